//! Loading: YAML source -> compiled [`Module`] plus *all* diagnostics.

use crate::diagnostics::Diagnostic;
use crate::module::Module;

/// The outcome of loading one module source. `module` is `Some` exactly when
/// no diagnostic is an error.
#[derive(Debug)]
pub struct LoadResult {
    pub module: Option<Module>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and checks `source`. Never panics, whatever the input.
pub fn load_module(_source: &str) -> LoadResult {
    LoadResult {
        module: None,
        diagnostics: Vec::new(),
    }
}
