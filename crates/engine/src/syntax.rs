//! A YAML tree in which every node knows its source span.
//!
//! Built from `saphyr-parser` events. Mapping keys are nodes too, so a
//! diagnostic can point at a misspelled field name as precisely as at a bad
//! value. Aliases are resolved (the copy keeps the spans of the anchored
//! node, which is where its text is written), within an expansion budget.
//! Duplicate keys, several documents and over-deep nesting are reported
//! here; YAML syntax errors stop parsing (the parser cannot recover), so
//! there is at most one `yaml-syntax` diagnostic.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Relaxed;

use saphyr_parser::{Event, Parser, ScalarStyle};

use crate::diagnostics::{Diagnostic, Severity};

/// Where a node is in the source: byte range, and 1-based line and column
/// (the column counts characters, not bytes) of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub column: u32,
}

impl Span {
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }
}

/// How a scalar was written; tells `"1"` (a string) from `1` (a number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar's value as YAML produced it (escapes and folding applied).
    /// `!!str`-tagged plain scalars get `Style::SingleQuoted`.
    Scalar {
        value: String,
        style: Style,
    },
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: Node,
    pub value: Node,
}

impl Node {
    /// The scalar's value, if this node is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// True for a plain (unquoted) scalar.
    pub fn is_plain(&self) -> bool {
        matches!(
            self.kind,
            NodeKind::Scalar {
                style: Style::Plain,
                ..
            }
        )
    }

    /// True for the YAML null: an empty plain scalar, `~` or `null`.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar {
                value,
                style: Style::Plain,
            } => matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"),
            _ => false,
        }
    }

    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
            NodeKind::Scalar { .. } if self.is_null() => "nothing",
            NodeKind::Scalar { value, style } => {
                if *style != Style::Plain {
                    "a text"
                } else if value.parse::<f64>().is_ok() {
                    "a number"
                } else if matches!(value.as_str(), "true" | "false" | "True" | "False") {
                    "a boolean"
                } else {
                    "a text"
                }
            }
        }
    }
}

/// Converts saphyr's character positions to byte offsets and byte offsets to
/// 1-based line and character column. Line breaks are `\n`, `\r\n` or a lone
/// `\r`, as in YAML.
#[derive(Debug)]
pub struct LineIndex<'a> {
    source: &'a str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
    /// Byte offset of every 64th character (empty for ASCII sources, where
    /// characters are bytes).
    char_checkpoints: Vec<usize>,
    /// The line of the last lookup (a search hint).
    last_line: AtomicU32,
}

const CHECKPOINT: usize = 64;

impl<'a> LineIndex<'a> {
    pub fn new(source: &'a str) -> LineIndex<'a> {
        let bytes = source.as_bytes();
        let mut line_starts = Vec::with_capacity(source.len() / 32 + 1);
        line_starts.push(0);
        if bytes.contains(&b'\r') {
            for (i, &b) in bytes.iter().enumerate() {
                let lone_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
                if b == b'\n' || lone_cr {
                    line_starts.push(i + 1);
                }
            }
        } else {
            line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        }
        let char_checkpoints = if source.is_ascii() {
            Vec::new()
        } else {
            source
                .char_indices()
                .step_by(CHECKPOINT)
                .map(|(b, _)| b)
                .collect()
        };
        LineIndex {
            source,
            line_starts,
            char_checkpoints,
            last_line: AtomicU32::new(0),
        }
    }

    pub fn source(&self) -> &'a str {
        self.source
    }

    /// Byte offset of the character at `char_index` (clamped to the end).
    pub fn byte_of_char(&self, char_index: usize) -> usize {
        if self.char_checkpoints.is_empty() {
            return char_index.min(self.source.len());
        }
        let cp = char_index / CHECKPOINT;
        let Some(&base) = self.char_checkpoints.get(cp) else {
            return self.source.len();
        };
        self.source[base..]
            .char_indices()
            .nth(char_index % CHECKPOINT)
            .map_or(self.source.len(), |(b, _)| base + b)
    }

    /// 1-based line and 1-based character column of a byte offset.
    pub fn line_col(&self, byte: usize) -> (u32, u32) {
        let byte = self.floor_char_boundary(byte.min(self.source.len()));
        // Positions mostly come in source order: try the last line found
        // and the one after it before searching.
        let hint = self.last_line.load(Relaxed) as usize;
        let starts = &self.line_starts;
        let on = |l: usize| {
            starts.get(l).is_some_and(|&s| s <= byte) && starts.get(l + 1).is_none_or(|&n| byte < n)
        };
        let line = if on(hint) {
            hint
        } else if on(hint + 1) {
            hint + 1
        } else {
            starts.partition_point(|&s| s <= byte) - 1
        };
        self.last_line.store(line as u32, Relaxed);
        let start = self.line_starts[line];
        let col = if self.char_checkpoints.is_empty() {
            byte - start // ASCII: characters are bytes
        } else {
            self.source[start..byte].chars().count()
        };
        (line as u32 + 1, col as u32 + 1)
    }

    /// The span of a byte range (clamped to the source and to character
    /// boundaries, so it can always slice the source).
    pub fn span(&self, start: usize, end: usize) -> Span {
        let start = self.floor_char_boundary(start.min(self.source.len()));
        let end = self.floor_char_boundary(end.min(self.source.len()));
        let (line, column) = self.line_col(start);
        Span {
            start,
            end: end.max(start),
            line,
            column,
        }
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line_text(&self, line: u32) -> &'a str {
        let i = (line as usize).saturating_sub(1);
        let Some(&start) = self.line_starts.get(i) else {
            return "";
        };
        let end = self
            .line_starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.source.len());
        self.source[start..end].trim_end_matches(['\n', '\r'])
    }

    /// Byte offset where 1-based line `line` starts.
    pub fn line_start(&self, line: u32) -> usize {
        let i = (line as usize).saturating_sub(1);
        self.line_starts
            .get(i)
            .copied()
            .unwrap_or(self.source.len())
    }

    fn floor_char_boundary(&self, mut byte: usize) -> usize {
        while !self.source.is_char_boundary(byte) {
            byte -= 1;
        }
        byte
    }
}

/// The result of parsing: the document's root node (`None` for an empty
/// document or after a syntax error) and what was found on the way.
#[derive(Debug)]
pub struct Parsed {
    pub root: Option<Node>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Deepest nesting accepted; real modules need about six levels.
pub const MAX_DEPTH: usize = 64;
/// Most nodes alias expansion may create in total (guards against "billion
/// laughs" documents).
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Parses a YAML source into a spanned tree.
pub fn parse(source: &str) -> Parsed {
    let index = LineIndex::new(source);
    parse_with(&index)
}

enum Frame {
    Seq {
        span: Span,
        items: Vec<Node>,
        anchor: usize,
    },
    Map {
        span: Span,
        entries: Vec<Entry>,
        pending_key: Option<Node>,
        anchor: usize,
    },
}

/// Parses with a prepared [`LineIndex`] (the loader reuses it for spans).
pub fn parse_with(index: &LineIndex<'_>) -> Parsed {
    let source = index.source();
    let mut diagnostics = Vec::new();
    let mut parser = Parser::new_from_str(source);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    let mut documents = 0;
    // Anchor id -> (node, node count).
    let mut anchors: HashMap<usize, (Node, usize)> = HashMap::new();
    let mut alias_budget = MAX_ALIAS_NODES;

    let error = |diagnostics: &mut Vec<Diagnostic>, code, span: Span, message: String| {
        diagnostics.push(Diagnostic {
            severity: Severity::Error,
            code,
            message,
            line: span.line,
            column: span.column,
            span: span.range(),
            hint: None,
        });
    };

    while let Some(event) = parser.next_event() {
        let (event, sp) = match event {
            Ok(e) => e,
            Err(e) => {
                let byte = index.byte_of_char(e.marker().index());
                let end = source[byte..]
                    .chars()
                    .next()
                    .map_or(byte, |c| byte + c.len_utf8());
                let span = index.span(byte, end);
                if let Some(tab) = indenting_tab(index, span.line) {
                    // The parser often notices a tab only at the next
                    // token, on the line above or below: point at the tab.
                    let (line, _) = index.line_col(tab);
                    error(
                        &mut diagnostics,
                        "yaml-syntax",
                        index.span(tab, tab + 1),
                        format!("line {line} is indented with a tab; use spaces"),
                    );
                    if let Some(d) = diagnostics.last_mut() {
                        d.hint = Some(
                            "YAML does not allow tabs for indentation: replace the tab with spaces"
                                .into(),
                        );
                    }
                } else {
                    error(
                        &mut diagnostics,
                        "yaml-syntax",
                        span,
                        format!("YAML syntax error: {}", e.info()),
                    );
                    if let Some(d) = diagnostics.last_mut() {
                        d.hint = syntax_hint(e.info());
                    }
                }
                return Parsed {
                    root: None,
                    diagnostics,
                };
            }
        };
        let start = index.byte_of_char(sp.start.index());
        let end = index.byte_of_char(sp.end.index());
        let node = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => continue,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents == 2 {
                    error(
                        &mut diagnostics,
                        "multiple-documents",
                        index.span(start, end.max(start + 3).min(source.len())),
                        "a module file holds one YAML document; this starts a second one".into(),
                    );
                    if let Some(d) = diagnostics.last_mut() {
                        d.hint = Some(
                            "remove this `---` line, or put the second module in a file of its own"
                                .into(),
                        );
                    }
                }
                continue;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    let span = index.span(start, end);
                    error(
                        &mut diagnostics,
                        "yaml-too-deep",
                        span,
                        format!("the YAML is nested more than {MAX_DEPTH} levels deep"),
                    );
                    return Parsed {
                        root: None,
                        diagnostics,
                    };
                }
                let span = index.span(start, end);
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq {
                        span,
                        items: Vec::new(),
                        anchor,
                    }
                } else {
                    Frame::Map {
                        span,
                        entries: Vec::new(),
                        pending_key: None,
                        anchor,
                    }
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = stack.pop() else { continue };
                let (mut span, kind, anchor) = match frame {
                    Frame::Seq {
                        span,
                        items,
                        anchor,
                    } => (span, NodeKind::Seq(items), anchor),
                    Frame::Map {
                        span,
                        entries,
                        anchor,
                        ..
                    } => {
                        check_duplicates(&entries, &mut diagnostics);
                        (span, NodeKind::Map(entries), anchor)
                    }
                };
                span.end = end.max(span.start);
                let node = Node { span, kind };
                if anchor != 0 {
                    let count = count_nodes(&node);
                    anchors.insert(anchor, (node.clone(), count));
                }
                node
            }
            Event::Scalar(value, style, anchor, tag) => {
                let mut start = start;
                if anchor != 0 || tag.is_some() {
                    start = skip_properties(source, start, end);
                }
                let is_str_tag = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let style = match style {
                    ScalarStyle::Plain if is_str_tag => Style::SingleQuoted,
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let end = trim_block_end(source, start, end, style);
                let node = Node {
                    span: index.span(start, end),
                    kind: NodeKind::Scalar {
                        value: value.into_owned(),
                        style,
                    },
                };
                if anchor != 0 {
                    anchors.insert(anchor, (node.clone(), 1));
                }
                node
            }
            Event::Alias(id) => {
                let span = index.span(start, end);
                match anchors.get(&id) {
                    Some((node, count)) if *count <= alias_budget => {
                        alias_budget -= count;
                        node.clone()
                    }
                    Some(_) => {
                        error(
                            &mut diagnostics,
                            "alias-limit",
                            span,
                            format!(
                                "aliases expand to more than {MAX_ALIAS_NODES} values; write the values out instead"
                            ),
                        );
                        return Parsed {
                            root: None,
                            diagnostics,
                        };
                    }
                    None => {
                        // The parser rejects unknown anchors itself; an alias of
                        // a collection from inside that collection lands here.
                        error(
                            &mut diagnostics,
                            "yaml-syntax",
                            span,
                            "this alias refers to a value that contains it".into(),
                        );
                        return Parsed {
                            root: None,
                            diagnostics,
                        };
                    }
                }
            }
        };
        match stack.last_mut() {
            None => {
                if documents <= 1 {
                    root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push(Entry { key, value: node }),
            },
        }
    }
    Parsed { root, diagnostics }
}

/// The byte offset of a tab in the indentation of the lines around 1-based
/// line `line` (the line before, the line, the line after), if any.
fn indenting_tab(index: &LineIndex<'_>, line: u32) -> Option<usize> {
    for l in line.saturating_sub(1).max(1)..=line + 1 {
        let text = index.line_text(l);
        let indent = text.len() - text.trim_start_matches([' ', '\t', '-']).len();
        if let Some(at) = text[..indent].find('\t') {
            // A tab after a `- ` or `? ` indicator is allowed by YAML in some
            // places; only count tabs at the start of the indentation or
            // on lines that hold something more.
            if text[indent..].trim().is_empty() {
                continue;
            }
            return Some(index.line_start(l) + at);
        }
    }
    None
}

/// A hint for the YAML mistakes authors make most.
fn syntax_hint(info: &str) -> Option<String> {
    let hint = if info.contains("tab") {
        "indent with spaces: YAML does not allow tabs for indentation"
    } else if info.contains("quoted scalar") {
        "is a quote left open? A quoted text must end with the quote it starts with"
    } else if info.contains("mapping values are not allowed") {
        "is a `: ` inside a text? Put the text in quotes, or check the indentation"
    } else {
        "check the indentation, quotes and brackets of this line and the lines above"
    };
    Some(hint.to_owned())
}

/// Skips `&anchor` and `!tag` before a scalar's text.
fn skip_properties(source: &str, mut start: usize, end: usize) -> usize {
    let bytes = source.as_bytes();
    while start < end && matches!(bytes[start], b'&' | b'!') {
        while start < end && !bytes[start].is_ascii_whitespace() {
            start += 1;
        }
        while start < end && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
    }
    start
}

/// Block scalars' spans run to the start of the next line; stop them at the
/// end of their last non-blank character instead.
fn trim_block_end(source: &str, start: usize, end: usize, style: Style) -> usize {
    if matches!(style, Style::Literal | Style::Folded) {
        start + source[start..end].trim_end().len()
    } else {
        end
    }
}

fn count_nodes(node: &Node) -> usize {
    match &node.kind {
        NodeKind::Scalar { .. } => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|e| count_nodes(&e.key) + count_nodes(&e.value))
                .sum::<usize>()
        }
    }
}

fn check_duplicates(entries: &[Entry], diagnostics: &mut Vec<Diagnostic>) {
    // Most maps are small: compare pairwise below a size where hashing pays.
    const SMALL: usize = 16;
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(key) = entry.key.as_scalar() else {
            continue;
        };
        let first = if entries.len() <= SMALL {
            entries[..i]
                .iter()
                .find(|e| e.key.as_scalar() == Some(key))
                .map(|e| e.key.span)
        } else {
            seen.get(key).copied()
        };
        if let Some(first) = first {
            let span = entry.key.span;
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                code: "duplicate-key",
                message: format!("`{key}` is written twice in the same map"),
                line: span.line,
                column: span.column,
                span: span.range(),
                hint: Some(format!(
                    "the first `{key}` is on line {}; keep one of them",
                    first.line
                )),
            });
        } else if entries.len() > SMALL {
            seen.insert(key, entry.key.span);
        }
    }
}
