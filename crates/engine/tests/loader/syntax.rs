//! The spanned YAML tree: positions, duplicate keys, aliases, limits.

use chatcourse_engine::syntax::{LineIndex, Node, NodeKind, Style, parse};

fn map_get<'a>(node: &'a Node, key: &str) -> &'a Node {
    let NodeKind::Map(entries) = &node.kind else {
        panic!("not a map: {node:?}")
    };
    &entries
        .iter()
        .find(|e| e.key.as_scalar() == Some(key))
        .unwrap_or_else(|| panic!("no key {key}"))
        .value
}

#[test]
fn scalars_keys_and_collections_carry_line_column_and_bytes() {
    let src = "a: 1\nlist:\n  - x\n  - \"y\"\nmap: {k: v}\n";
    let parsed = parse(src);
    assert!(parsed.diagnostics.is_empty());
    let root = parsed.root.unwrap();
    let NodeKind::Map(entries) = &root.kind else {
        panic!()
    };
    let list_key = &entries[1].key;
    assert_eq!((list_key.span.line, list_key.span.column), (2, 1));
    assert_eq!(&src[list_key.span.range()], "list");

    let list = map_get(&root, "list");
    let NodeKind::Seq(items) = &list.kind else {
        panic!()
    };
    assert_eq!((items[0].span.line, items[0].span.column), (3, 5));
    assert_eq!(&src[items[1].span.range()], "\"y\"");
    assert!(matches!(
        items[1].kind,
        NodeKind::Scalar {
            style: Style::DoubleQuoted,
            ..
        }
    ));
    assert!(items[0].is_plain());

    let v = map_get(map_get(&root, "map"), "k");
    assert_eq!((v.span.line, v.span.column), (5, 10));
    assert_eq!(&src[v.span.range()], "v");
}

#[test]
fn columns_count_characters_after_non_ascii_text() {
    let src = "név: \"ünïcödé 👋\"\nkey: välue\n";
    let root = parse(src).root.unwrap();
    let v = map_get(&root, "key");
    assert_eq!((v.span.line, v.span.column), (2, 6));
    assert_eq!(&src[v.span.range()], "välue");
    let first = map_get(&root, "név");
    assert_eq!(first.span.column, 6);
    assert_eq!(&src[first.span.range()], "\"ünïcödé 👋\"");
}

#[test]
fn a_syntax_error_after_non_ascii_text_points_at_the_right_character() {
    // The error is at the `:` in `b: c` inside a plain scalar on line 2.
    let src = "é: ü ö\n  ä: c\n";
    let parsed = parse(src);
    assert!(parsed.root.is_none());
    let d = &parsed.diagnostics[0];
    assert_eq!(d.code, "yaml-syntax");
    assert_eq!(d.line, 2);
    assert_eq!(d.column, 4);
    assert_eq!(&src[d.span.clone()], ":");
}

#[test]
fn duplicate_keys_are_reported_and_the_first_wins() {
    let src = "a: 1\nb: 2\na: 3\n";
    let parsed = parse(src);
    assert_eq!(parsed.diagnostics.len(), 1);
    let d = &parsed.diagnostics[0];
    assert_eq!((d.code, d.line, d.column), ("duplicate-key", 3, 1));
    assert_eq!(
        map_get(parsed.root.as_ref().unwrap(), "a").as_scalar(),
        Some("1")
    );
}

#[test]
fn aliases_resolve_to_a_copy_of_the_anchored_value() {
    let src = "a: &x [1, 2]\nb: *x\nc: &s text\nd: *s\n";
    let root = parse(src).root.unwrap();
    assert_eq!(map_get(&root, "a"), map_get(&root, "b"));
    let d = map_get(&root, "d");
    assert_eq!(d.as_scalar(), Some("text"));
    // The copy points at the anchored text, past the `&s`.
    assert_eq!(&src[d.span.range()], "text");
}

#[test]
fn alias_bombs_are_stopped() {
    let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = i - 1;
        src.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    let parsed = parse(&src);
    assert!(parsed.root.is_none());
    assert_eq!(parsed.diagnostics[0].code, "alias-limit");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let src = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let parsed = parse(&src);
    assert!(parsed.root.is_none());
    assert_eq!(parsed.diagnostics[0].code, "yaml-too-deep");
    // Unbalanced and very deep: still an error, never a crash.
    let parsed = parse(&"[".repeat(100_000));
    assert!(parsed.root.is_none());
    assert!(!parsed.diagnostics.is_empty());
}

#[test]
fn tagged_strings_count_as_quoted_and_nulls_are_recognised() {
    let root = parse("a: !!str 12\nb:\nc: ~\n").root.unwrap();
    let a = map_get(&root, "a");
    assert!(!a.is_plain());
    assert_eq!(a.as_scalar(), Some("12"));
    assert!(map_get(&root, "b").is_null());
    assert!(map_get(&root, "c").is_null());
}

#[test]
fn line_index_handles_crlf_and_lone_cr() {
    let src = "a\r\nbé\rc\n";
    let index = LineIndex::new(src);
    assert_eq!(index.line_col(0), (1, 1));
    assert_eq!(index.line_col(3), (2, 1));
    assert_eq!(index.line_col(4), (2, 2));
    assert_eq!(index.line_col(7), (3, 1));
    assert_eq!(index.line_text(2), "bé");
    assert_eq!(index.byte_of_char(5), 6);
    assert_eq!(index.byte_of_char(6), 7);
}

#[test]
fn block_scalar_spans_stop_at_their_last_character() {
    let src = "a: |\n  one\n  two\n\nb: 1\n";
    let root = parse(src).root.unwrap();
    let a = map_get(&root, "a");
    assert_eq!(&src[a.span.range()], "one\n  two");
    assert_eq!((a.span.line, a.span.column), (2, 3));
}
