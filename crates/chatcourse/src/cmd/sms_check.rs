//! `chatcourse validate --channel sms`: warnings about module texts that
//! cost more than `--max-segments` SMS segments, at their line and column,
//! naming the character when a single non-GSM character (a curly quote,
//! an emoji) makes a text UCS-2 and so doubles its cost.
//!
//! Texts are counted as written: `{variables}` are counted by their
//! placeholder, and a step's prompt is counted without the listed
//! choices the engine appends.

use chatcourse_channels::sms::{self, Encoding};
use chatcourse_engine::diagnostics::{Diagnostic, Severity};
use chatcourse_engine::syntax::{self, Node, NodeKind};

/// The keys whose values learners read (the module format's texts).
const TEXT_KEYS: [&str; 15] = [
    "ask", "say", "end", "right", "wrong", "reply", "reprompt", "reminder", "help", "stopped",
    "invalid", "finished", "expired", "text", "choices",
];

/// The warnings of one module source.
pub fn check(source: &str, max_segments: usize) -> Vec<Diagnostic> {
    let parsed = syntax::parse(source);
    let mut out = Vec::new();
    if let Some(root) = &parsed.root {
        walk(root, false, source, max_segments, &mut out);
    }
    out
}

/// Visits `node`; `text` when it is (inside) a learner-facing text.
fn walk(node: &Node, text: bool, source: &str, max: usize, out: &mut Vec<Diagnostic>) {
    match &node.kind {
        NodeKind::Scalar { value, .. } if text => {
            if let Some(d) = warning(node, value, source, max) {
                out.push(d);
            }
        }
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => {
            for item in items {
                walk(item, text, source, max, out);
            }
        }
        NodeKind::Map(entries) => {
            for e in entries {
                let key_is_text = e.key.as_scalar().is_some_and(|k| TEXT_KEYS.contains(&k));
                // Inside a text, a map is per language: all its values.
                walk(&e.value, text || key_is_text, source, max, out);
            }
        }
    }
}

fn warning(node: &Node, value: &str, source: &str, max: usize) -> Option<Diagnostic> {
    let cost = sms::cost(value);
    if cost.segments <= max {
        return None;
    }
    let mut line = node.span.line;
    let mut column = node.span.column;
    let mut span = node.span.range();
    let mut hint = None;
    if cost.encoding == Encoding::Ucs2
        && let Some((_, c)) = cost.first_non_gsm
        && value
            .chars()
            .filter(|&x| sms::gsm_septets(x).is_none())
            .all(|x| x == c)
    {
        let without: String = value.chars().filter(|&x| x != c).collect();
        let gsm = sms::cost(&without).segments;
        if gsm < cost.segments {
            hint = Some(format!(
                "`{c}` (U+{:04X}) is the only character outside GSM-7: it makes the text UCS-2 \
                 (70 characters a segment, not 160); without it the text is {gsm} segment{}",
                u32::from(c),
                if gsm == 1 { "" } else { "s" }
            ));
            // Point at the character itself when it is in the source as
            // written.
            let start = node.span.start.min(source.len());
            let end = node.span.end.clamp(start, source.len());
            if let Some(at) = source.get(start..end).and_then(|s| s.find(c)) {
                let byte = start + at;
                let index = syntax::LineIndex::new(source);
                (line, column) = index.line_col(byte);
                span = byte..byte + c.len_utf8();
            }
        }
    }
    Some(Diagnostic {
        severity: Severity::Warning,
        code: "sms-segments",
        message: format!(
            "this text is {} SMS segments ({}, {} {}), over the limit of {max}",
            cost.segments,
            cost.encoding.as_str(),
            cost.units,
            if cost.encoding == Encoding::Gsm7 {
                "septets"
            } else {
                "UTF-16 units"
            },
        ),
        line,
        column,
        span,
        hint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_and_the_one_character_that_doubles_them() {
        let long = "Saving a little every week adds up. ".repeat(5);
        let source = format!(
            "module: m\nname: M\nsteps:\n  - id: a\n    say: \"{long}\"\n  - id: b\n    ask:\n      en: \"{long}\u{2019}\"\n    choices: [Yes]\n  - id: c\n    say: short\n"
        );
        let warnings = check(&source, 1);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert_eq!((warnings[0].line, warnings[0].column), (5, 10));
        assert!(warnings[0].hint.is_none());
        assert!(
            warnings[0]
                .message
                .starts_with("this text is 2 SMS segments (GSM-7")
        );
        // The curly quote: pointed at, and named.
        assert_eq!(warnings[1].line, 8);
        assert_eq!(warnings[1].column, 12 + long.chars().count() as u32);
        let hint = warnings[1].hint.as_deref().unwrap();
        assert!(
            hint.starts_with("`\u{2019}` (U+2019) is the only character outside GSM-7"),
            "{hint}"
        );
        assert!(
            hint.ends_with("without it the text is 2 segments"),
            "{hint}"
        );
        assert!(check(&source, 3).is_empty());
    }
}
