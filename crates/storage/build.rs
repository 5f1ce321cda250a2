//! `sqlx::migrate!` embeds the migration files at compile time; rebuild when
//! they change (a new file alone would not touch any source).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
