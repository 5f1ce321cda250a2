//! The flow graph of a module: a Mermaid snapshot of an example module,
//! DOT that parses, unreachable steps marked.

use std::path::Path;

use chatcourse_engine::flow::{EdgeKind, Flow};
use chatcourse_engine::load_module;

fn example(name: &str) -> Flow {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../modules/{name}.yaml"));
    let source = std::fs::read_to_string(path).unwrap();
    Flow::build(&load_module(&source).module.expect("the example loads"))
}

#[test]
fn mermaid_of_an_example_module_matches_the_snapshot() {
    let actual = example("mobile-money-savings").mermaid();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/flow/mobile-money-savings.mmd");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(actual, expected, "run with BLESS=1 to accept");
}

const UNREACHABLE: &str = r#"
module: flow
name: Flow
goal: show a flow
version: 1
language: en
steps:
  - id: start
    ask: "Say \"yes\" <now>?"
    choices:
      - text: Yes
        next: done
      - No
    answers:
      - keywords: [maybe]
        next: done
    retry:
      max_attempts: 2
      on_exhausted: done
  - id: lesson
    say: A lesson.
  - id: done
    end: Bye {learner_name|friend}.
  - id: orphan
    say: Nobody comes here.
    next: done
"#;

fn unreachable_flow() -> Flow {
    let result = load_module(UNREACHABLE);
    Flow::build(&result.module.expect("warnings only"))
}

#[test]
fn edges_follow_choices_rules_and_retries_and_orphans_are_marked() {
    let flow = unreachable_flow();
    let ids: Vec<&str> = flow.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["start", "lesson", "done", "orphan"]);
    let reachable: Vec<bool> = flow.nodes.iter().map(|n| n.reachable).collect();
    assert_eq!(reachable, [true, true, true, false]);
    let edges: Vec<(usize, usize, EdgeKind, &str)> = flow
        .edges
        .iter()
        .map(|e| (e.from, e.to, e.kind, e.label.as_str()))
        .collect();
    assert_eq!(
        edges,
        [
            (0, 2, EdgeKind::Next, "1. Yes / keywords: maybe"),
            (0, 1, EdgeKind::Next, "2. No"),
            (0, 2, EdgeKind::Exhausted, "no match x2"),
            (1, 2, EdgeKind::Next, ""),
            (3, 2, EdgeKind::Next, ""),
        ]
    );
    let mermaid = flow.mermaid();
    assert!(mermaid.contains("class s3 unreachable"), "{mermaid}");
    assert!(mermaid.contains("#quot;yes#quot; #lt;now#gt;"), "{mermaid}");
    assert!(
        mermaid.contains("Bye {learner_name#124;friend}."),
        "{mermaid}"
    );
}

/// A small structural reading of DOT: one `digraph` block, balanced
/// braces outside quotes, statements ending in `;`, and edges only
/// between declared nodes.
fn check_dot(dot: &str) -> Result<(), String> {
    let body = dot.strip_prefix("digraph ").ok_or("no `digraph` header")?;
    let mut depth = 0i32;
    let mut in_quotes = false;
    let mut escaped = false;
    for c in body.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '{' if !in_quotes => depth += 1,
            '}' if !in_quotes => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced `}`".into());
                }
            }
            _ => {}
        }
    }
    if depth != 0 || in_quotes {
        return Err("unbalanced braces or quotes".into());
    }
    let mut declared = Vec::new();
    for line in dot.lines().map(str::trim) {
        if line.is_empty() || line.ends_with('{') || line == "}" {
            continue;
        }
        if !line.ends_with(';') {
            return Err(format!("statement without `;`: {line}"));
        }
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((from, rest)) = line.split_once(" -> ") {
            let to = rest.split([' ', ';']).next().unwrap_or("");
            for end in [from, to] {
                if !declared.contains(&end.to_owned()) {
                    return Err(format!("edge to an undeclared node `{end}`: {line}"));
                }
            }
        } else if first.starts_with('s') && line.contains("[label=") {
            declared.push(first.to_owned());
        }
    }
    if declared.is_empty() {
        return Err("no nodes".into());
    }
    Ok(())
}

#[test]
fn dot_output_is_structurally_valid() {
    for flow in [
        example("mobile-money-savings"),
        example("budgeting"),
        unreachable_flow(),
    ] {
        let dot = flow.dot();
        check_dot(&dot).unwrap_or_else(|e| panic!("{e}\n{dot}"));
        assert_eq!(
            dot.matches(" -> ").count(),
            flow.edges.len(),
            "one DOT edge per flow edge"
        );
    }
    let dot = unreachable_flow().dot();
    assert!(dot.contains("orphan (unreachable)"), "{dot}");
    assert!(
        dot.contains(r#"label="start\nSay \"yes\" <now>?""#),
        "{dot}"
    );
}

/// The rendered example in docs/module-format.md is what `graph` prints
/// for the module shown beside it.
#[test]
fn the_documented_example_is_what_graph_prints() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/module-format.md"),
    )
    .unwrap();
    let section = &doc[doc.find("## Seeing the flow").expect("a graph section")..];
    let block = |fence: &str| -> String {
        let start = section.find(fence).expect("a block") + fence.len();
        let len = section[start..].find("\n```").expect("a closed block");
        section[start..start + len + 1].to_owned()
    };
    let yaml = block("```yaml\n");
    let mermaid = block("```mermaid\n");
    let module = load_module(&yaml)
        .module
        .expect("the documented module loads");
    assert_eq!(Flow::build(&module).mermaid(), mermaid);
}

#[test]
fn pauses_are_hexagons_saying_until_when() {
    let flow = example("savings-week");
    let pause = flow.nodes.iter().position(|n| n.id == "pause_1").unwrap();
    assert_eq!(flow.nodes[pause].text, "wait 12h, then until 09:00 mon-fri");
    let out: Vec<_> = flow.edges.iter().filter(|e| e.from == pause).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(flow.nodes[out[0].to].id, "day2");
    assert_eq!(out[0].label, "or reply: next, sasa");
    assert!(flow.nodes.iter().all(|n| n.reachable));
    let mermaid = flow.mermaid();
    assert!(
        mermaid.contains(&format!(
            "s{pause}{{{{\"<b>pause_1</b><br/>wait 12h, then until 09:00 mon-fri\"}}}}"
        )),
        "{mermaid}"
    );
    assert!(
        flow.dot().contains(&format!(
            "s{pause} [label=\"pause_1\\nwait 12h, then until 09:00 mon-fri\", shape=hexagon];"
        )),
        "{}",
        flow.dot()
    );
}
