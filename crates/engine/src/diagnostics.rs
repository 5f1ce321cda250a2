//! Author-facing diagnostics: severity, stable code, position, hint.

/// Error stops a module from loading; a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about a module source. Positions are 1-based; `column`
/// counts characters (not bytes) so editors can jump to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable, kebab-case code (`unknown-field`, `unknown-step`, ...).
    pub code: &'static str,
    pub message: String,
    pub line: u32,
    pub column: u32,
    /// Byte range in the source that the marker underlines.
    #[serde(skip)]
    pub span: std::ops::Range<usize>,
    pub hint: Option<String>,
}
