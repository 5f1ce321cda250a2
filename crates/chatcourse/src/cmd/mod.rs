//! One file per subcommand. Each exposes `Args` (clap) and `run`.

pub mod graph;
pub mod keys;
pub mod migrate;
pub mod play;
pub mod schema;
pub mod serve;
pub mod test;
pub mod validate;
