//! Author-facing diagnostics: severity, stable code, position, hint; and
//! their two renderings, rustc-style text ([`render`]) and JSON
//! ([`to_json`]).

use std::fmt::Write as _;

use crate::syntax::LineIndex;

/// Error stops a module from loading; a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
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

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Renders a diagnostic the way rustc does:
///
/// ```text
/// error[unknown-step]: `next` names a step that does not exist: `lesson_3`
///   --> modules/budget.yaml:42:11
///    |
/// 42 |     next: lesson_3
///    |           ^^^^^^^^
///    = hint: did you mean `lesson_2`?
/// ```
///
/// A span over several lines is underlined to the end of its first line.
/// Tabs in the source line are shown as four spaces. The result ends with a
/// newline.
pub fn render(path: &str, source: &str, d: &Diagnostic) -> String {
    let index = LineIndex::new(source);
    render_with(&index, path, d)
}

/// [`render`] for many diagnostics of one source, building the line index
/// once. Diagnostics are separated by a blank line.
pub fn render_all(path: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let index = LineIndex::new(source);
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&render_with(&index, path, d));
    }
    out
}

fn render_with(index: &LineIndex<'_>, path: &str, d: &Diagnostic) -> String {
    let mut out = String::new();
    let line_no = d.line.max(1);
    let gutter = line_no.to_string().len();
    let pad = " ".repeat(gutter);
    let _ = writeln!(out, "{}[{}]: {}", d.severity.as_str(), d.code, d.message);
    let _ = writeln!(out, "{pad}--> {path}:{}:{}", line_no, d.column.max(1));
    let _ = writeln!(out, "{pad} |");

    let text = index.line_text(line_no);
    let line_start = index.line_start(line_no);
    // Byte range of the marker within this line.
    let from = d.span.start.saturating_sub(line_start).min(text.len());
    let to = d
        .span
        .end
        .saturating_sub(line_start)
        .clamp(from, text.len());
    let (shown, caret_at, caret_len) = expand_line(text, from, to);
    let _ = writeln!(out, "{line_no} | {}", shown.trim_end());
    let _ = writeln!(
        out,
        "{pad} | {}{}",
        " ".repeat(caret_at),
        "^".repeat(caret_len.max(1))
    );
    if let Some(hint) = &d.hint {
        let _ = writeln!(out, "{pad} = hint: {hint}");
    }
    out
}

/// The line with tabs expanded, and the marker's start and width in
/// characters of that expanded line.
fn expand_line(text: &str, from: usize, to: usize) -> (String, usize, usize) {
    let mut shown = String::with_capacity(text.len());
    let (mut caret_at, mut caret_end) = (None, None);
    let mut width = 0;
    for (b, c) in text.char_indices() {
        if b == from {
            caret_at = Some(width);
        }
        if b == to {
            caret_end = Some(width);
        }
        if c == '\t' {
            shown.push_str("    ");
            width += 4;
        } else {
            shown.push(c);
            width += 1;
        }
    }
    let caret_at = caret_at.unwrap_or(width);
    let caret_end = caret_end.unwrap_or(width);
    (shown, caret_at, caret_end.saturating_sub(caret_at))
}

/// The machine-readable form: `{file, line, column, severity, code,
/// message, hint}` (`hint` is `null` when absent).
pub fn to_json(path: &str, d: &Diagnostic) -> serde_json::Value {
    serde_json::json!({
        "file": path,
        "line": d.line,
        "column": d.column,
        "severity": d.severity,
        "code": d.code,
        "message": d.message,
        "hint": d.hint,
    })
}

/// The candidate closest to `word` by edit distance (adjacent swaps count
/// as one edit), if it is close enough to be a likely typo: at most one edit
/// for words up to four characters, two up to eight, three beyond. Ties go
/// to the earliest candidate. Case is ignored.
pub fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).into_iter().next()
}

/// Every candidate at the smallest likely-typo distance from `word`, in
/// candidate order (see [`did_you_mean`]).
pub fn closest<'a, I>(word: &str, candidates: I) -> Vec<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let word = word.to_lowercase();
    let len = word.chars().count();
    let limit = match len {
        0 => return Vec::new(),
        1..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    let mut best_distance = usize::MAX;
    let mut best = Vec::new();
    for candidate in candidates {
        let clen = candidate.chars().count();
        if clen.abs_diff(len) > limit {
            continue;
        }
        let d = edit_distance(&word, &candidate.to_lowercase());
        if d == 0 || d > limit || d > best_distance {
            continue;
        }
        if d < best_distance {
            best_distance = d;
            best.clear();
        }
        if !best.contains(&candidate) {
            best.push(candidate);
        }
    }
    best
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions
/// and swaps of two adjacent characters each cost one.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    // Three rows: two back, previous, current.
    let mut rows = vec![0usize; 3 * width];
    for (j, cell) in rows[width..2 * width].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        let (before, rest) = rows.split_at_mut(2 * width);
        let (prev2, prev) = before.split_at_mut(width);
        let cur = &mut rest[..width];
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        rows.copy_within(width..3 * width, 0);
    }
    rows[width + b.len()]
}

/// `hint` text for a did-you-mean suggestion: the closest candidate, or up
/// to three equally close ones (`did you mean `a` or `b`?`).
pub fn suggest<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let found = closest(word, candidates);
    let quoted: Vec<String> = found.iter().take(3).map(|c| format!("`{c}`")).collect();
    match quoted.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean {one}?")),
        [init @ .., last] => Some(format!("did you mean {} or {last}?", init.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_swaps_once() {
        assert_eq!(edit_distance("next", "nxet"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn did_you_mean_picks_the_closest_close_word() {
        let c = ["next", "quiz", "choices", "correct"];
        assert_eq!(did_you_mean("nxt", c), Some("next"));
        assert_eq!(did_you_mean("corect", c), Some("correct"));
        assert_eq!(did_you_mean("banana", c), None);
        assert_eq!(did_you_mean("next", c), None);
        let steps = ["lesson_1", "lesson_2", "done"];
        assert_eq!(
            suggest("lesson_3", steps).as_deref(),
            Some("did you mean `lesson_1` or `lesson_2`?")
        );
        assert_eq!(
            suggest("dnoe", steps).as_deref(),
            Some("did you mean `done`?")
        );
    }

    #[test]
    fn json_has_the_documented_fields() {
        let d = Diagnostic {
            severity: Severity::Warning,
            code: "unreachable-step",
            message: "never reached".into(),
            line: 3,
            column: 9,
            span: 20..24,
            hint: None,
        };
        assert_eq!(
            to_json("m.yaml", &d),
            serde_json::json!({
                "file": "m.yaml", "line": 3, "column": 9, "severity": "warning",
                "code": "unreachable-step", "message": "never reached", "hint": null,
            })
        );
    }

    #[test]
    fn render_expands_tabs_and_stops_at_the_end_of_the_first_line() {
        let src = "say:\t\"a {x}\n  b\"\n";
        let d = Diagnostic {
            severity: Severity::Error,
            code: "c",
            message: "m".into(),
            line: 1,
            column: 6,
            span: 5..14,
            hint: None,
        };
        let out = render("f", src, &d);
        assert!(out.contains("1 | say:    \"a {x}\n"), "{out}");
        assert!(out.contains("  |         ^^^^^^\n"), "{out}");
    }

    #[test]
    fn render_underlines_the_span() {
        let src = "a: 1\nnext: lesson_3\n";
        let d = Diagnostic {
            severity: Severity::Error,
            code: "unknown-step",
            message: "no such step".into(),
            line: 2,
            column: 7,
            span: 11..19,
            hint: Some("did you mean `lesson_2`?".into()),
        };
        let expected = "error[unknown-step]: no such step\n --> m.yaml:2:7\n  |\n2 | next: lesson_3\n  |       ^^^^^^^^\n  = hint: did you mean `lesson_2`?\n";
        assert_eq!(render("m.yaml", src, &d), expected);
    }
}
