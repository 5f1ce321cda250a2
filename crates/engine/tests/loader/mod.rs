//! Loader tests: broken-module snapshots, syntax spans, compiled IR,
//! and never-panic properties.

mod compile;
mod props;
mod snapshots;
mod syntax;
