//! The JSON Schema of the module format: the shipped file is the generated
//! one, and every example module passes it (a broken one does not).
//!
//! Modules are checked by a small validator of the keywords the schema uses
//! (`type`, `properties`, `additionalProperties`, `required`, `anyOf`,
//! `oneOf`, `enum`, `const`, `pattern`, `minimum`, `maximum`, `minItems`,
//! `minProperties`, `propertyNames`, `items`, local `$ref`). The `jsonschema`
//! crate would pull in some forty crates (URL and HTTP reference
//! resolution, several regex engines) for ten keywords.

use std::path::{Path, PathBuf};

use chatcourse_engine::load::{json_schema, json_schema_text};
use chatcourse_engine::syntax::{Node, NodeKind, Style, parse};
use serde_json::{Map, Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_shipped_schema_is_the_generated_one() {
    let path = repo().join("docs/module.schema.json");
    let generated = json_schema_text();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let shipped = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shipped == generated,
        "docs/module.schema.json differs from `chatcourse schema` (run with BLESS=1 to accept)"
    );
}

/// The YAML tree as JSON, typed as YAML's core schema types plain scalars.
fn to_json(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|e| {
                    (
                        e.key.as_scalar().unwrap_or("").to_owned(),
                        to_json(&e.value),
                    )
                })
                .collect(),
        ),
        NodeKind::Scalar { value, style } => {
            if *style != Style::Plain {
                return json!(value);
            }
            if node.is_null() {
                return Value::Null;
            }
            match value.as_str() {
                "true" | "True" | "TRUE" => return json!(true),
                "false" | "False" | "FALSE" => return json!(false),
                _ => {}
            }
            if let Ok(n) = value.parse::<i64>() {
                return json!(n);
            }
            match value.parse::<f64>() {
                Ok(f) if f.is_finite() => json!(f),
                _ => json!(value),
            }
        }
    }
}

struct Validator<'a> {
    root: &'a Value,
    errors: Vec<String>,
}

impl Validator<'_> {
    fn ok(&self, schema: &Value, value: &Value) -> bool {
        let mut probe = Validator {
            root: self.root,
            errors: Vec::new(),
        };
        probe.check(schema, value, "");
        probe.errors.is_empty()
    }

    fn check(&mut self, schema: &Value, value: &Value, at: &str) {
        let Some(s) = schema.as_object() else {
            if schema == &json!(false) {
                self.errors.push(format!("{at}: not allowed"));
            }
            return;
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let name = r.strip_prefix("#/$defs/").expect("a local reference");
            let target = &self.root["$defs"][name];
            assert!(!target.is_null(), "unknown $ref {r}");
            self.check(target, value, at);
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => panic!("bad type {t}"),
            };
            let fits = types.iter().any(|t| match *t {
                "string" => value.is_string(),
                "number" => value.is_number(),
                "integer" => value.is_i64() || value.is_u64(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                "object" => value.is_object(),
                "array" => value.is_array(),
                other => panic!("unknown type {other}"),
            });
            if !fits {
                self.errors.push(format!("{at}: {value} is not {types:?}"));
                return;
            }
        }
        if let Some(c) = s.get("const")
            && c != value
        {
            self.errors.push(format!("{at}: {value} is not {c}"));
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array)
            && !e.contains(value)
        {
            self.errors
                .push(format!("{at}: {value} is not one of {e:?}"));
        }
        if let (Some(p), Some(text)) = (s.get("pattern").and_then(Value::as_str), value.as_str())
            && !regex::Regex::new(p).unwrap().is_match(text)
        {
            self.errors
                .push(format!("{at}: {text:?} does not match {p}"));
        }
        if let Some(n) = value.as_f64() {
            if s.get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n < m)
            {
                self.errors.push(format!("{at}: {n} is too small"));
            }
            if s.get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n > m)
            {
                self.errors.push(format!("{at}: {n} is too large"));
            }
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array)
            && !any.iter().any(|sub| self.ok(sub, value))
        {
            self.errors
                .push(format!("{at}: {value} fits none of anyOf"));
        }
        if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
            let n = one.iter().filter(|sub| self.ok(sub, value)).count();
            if n != 1 {
                self.errors
                    .push(format!("{at}: fits {n} of oneOf, not one"));
            }
        }
        if let Some(items) = value.as_array() {
            if s.get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| (items.len() as u64) < m)
            {
                self.errors.push(format!("{at}: too few items"));
            }
            if let Some(item) = s.get("items") {
                for (i, v) in items.iter().enumerate() {
                    self.check(item, v, &format!("{at}/{i}"));
                }
            }
        }
        if let Some(map) = value.as_object() {
            self.check_object(s, map, at);
        }
    }

    fn check_object(&mut self, s: &Map<String, Value>, map: &Map<String, Value>, at: &str) {
        if s.get("minProperties")
            .and_then(Value::as_u64)
            .is_some_and(|m| (map.len() as u64) < m)
        {
            self.errors.push(format!("{at}: too few properties"));
        }
        for r in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = r.as_str().unwrap();
            if !map.contains_key(name) {
                self.errors.push(format!("{at}: `{name}` is required"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, v) in map {
            if let Some(names) = s.get("propertyNames") {
                self.check(names, &json!(k), &format!("{at}/{k} (name)"));
            }
            match props.and_then(|p| p.get(k)) {
                Some(sub) => self.check(sub, v, &format!("{at}/{k}")),
                None => {
                    if let Some(extra) = s.get("additionalProperties") {
                        self.check(extra, v, &format!("{at}/{k}"));
                    }
                }
            }
        }
    }
}

fn schema_errors(source: &str) -> Vec<String> {
    let root = parse(source).root.expect("the module parses");
    let schema = json_schema();
    let mut v = Validator {
        root: &schema,
        errors: Vec::new(),
    };
    v.check(&schema, &to_json(&root), "");
    v.errors
}

#[test]
fn every_example_module_passes_the_schema() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo().join("modules")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") || name.ends_with(".test.yaml") {
            continue;
        }
        let errors = schema_errors(&std::fs::read_to_string(&path).unwrap());
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        count += 1;
    }
    assert!(count > 0);
}

#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let broken = r#"
module: "not an id!"
name: Broken
goal: fail the schema
version: 1
language: en
retry: { max_attempts: 0, reprompt: no }
steps:
  - id: q
    ask: Ready?
    say: Both kinds.
    chioces: [Yes]
    quiz: pst
    timeouts: { remind_after: 1 day }
    answers:
      - keywords: [yes]
        regex: '^y'
"#;
    let errors = schema_errors(broken).join("\n");
    for expected in [
        "/module: \"not an id!\" does not match",
        "/retry/max_attempts: 0 is too small",
        "/retry/reprompt: not allowed",
        "/steps/0: fits 2 of oneOf",
        "/steps/0/chioces: not allowed",
        "/steps/0/quiz: \"pst\" is not one of",
        "/steps/0/timeouts/remind_after: \"1 day\" does not match",
        "/steps/0/answers/0: fits 2 of oneOf",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}
