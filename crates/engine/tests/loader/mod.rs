//! Loader tests: broken-module snapshots, syntax spans, compiled IR,
//! and never-panic properties.

mod compile;
mod flow;
mod pause;
mod props;
mod schema;
mod snapshots;
mod syntax;
