//! Any bytes that are UTF-8 go through the loader and the diagnostic
//! renderers; nothing may panic, and a module exists exactly when no
//! diagnostic is an error.

#![no_main]

use chatcourse_engine::diagnostics::{render_all, to_json};
use chatcourse_engine::load_module;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let result = load_module(source);
    let has_error = result.diagnostics.iter().any(|d| d.is_error());
    assert_eq!(result.module.is_some(), !has_error);
    for d in &result.diagnostics {
        assert!(d.span.start <= d.span.end && d.span.end <= source.len());
        assert!(source.is_char_boundary(d.span.start) && source.is_char_boundary(d.span.end));
        assert!(d.line >= 1 && d.column >= 1);
        let _ = to_json("fuzz.yaml", d);
    }
    let _ = render_all("fuzz.yaml", source, &result.diagnostics);
});
