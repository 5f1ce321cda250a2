//! The flow of a compiled module as a graph, for people to look at:
//! steps, the branches taken by each choice and answer rule, where a step
//! goes when attempts run out, quiz membership, and steps no learner can
//! reach. [`Flow::build`] is pure; [`Flow::mermaid`] and [`Flow::dot`]
//! render it as a Mermaid flowchart or a Graphviz digraph.

use std::fmt::Write as _;

use crate::module::{Matcher, Module, Part, QuizKind, StepKind, Template, Text, Var};

/// A module's flow: one node per step (in file order) and the edges
/// between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub module: String,
    pub nodes: Vec<FlowNode>,
    pub edges: Vec<FlowEdge>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlowNode {
    pub id: String,
    pub kind: FlowKind,
    /// The step's base-language text, shortened, with variables as written.
    pub text: String,
    pub quiz: Option<QuizKind>,
    /// False when no path from the first step leads here.
    pub reachable: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    Say,
    Ask,
    End,
    /// A pause (`wait:`); its text says until when.
    Wait,
}

impl FlowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FlowKind::Say => "say",
            FlowKind::Ask => "ask",
            FlowKind::End => "end",
            FlowKind::Wait => "wait",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlowEdge {
    /// Indices into [`Flow::nodes`].
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    /// What takes this edge: `1. Start`, `keywords: yes`, `number 1-100`
    /// (several joined with ` / ` when they lead to the same step); empty
    /// for a `say` step's way on.
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// A `say` step's way on, or an accepted answer.
    Next,
    /// Attempts ran out (`retry.on_exhausted`).
    Exhausted,
}

/// Longest step text shown in a node, in characters.
const TEXT_CHARS: usize = 48;
/// Longest choice or rule label, in characters.
const LABEL_CHARS: usize = 28;

impl Flow {
    pub fn build(module: &Module) -> Flow {
        let nodes = module
            .steps
            .iter()
            .map(|step| {
                if let StepKind::Wait(wait) = &step.kind {
                    return FlowNode {
                        id: step.id.clone(),
                        kind: FlowKind::Wait,
                        text: wait.describe(),
                        quiz: None,
                        reachable: false,
                    };
                }
                let (kind, text, quiz) = match &step.kind {
                    StepKind::Say { text, .. } => (FlowKind::Say, Some(text), None),
                    StepKind::Ask(ask) => (
                        FlowKind::Ask,
                        Some(&ask.text),
                        ask.quiz.as_ref().map(|q| q.quiz),
                    ),
                    StepKind::End { text } => (FlowKind::End, text.as_ref(), None),
                    StepKind::Wait(_) => (FlowKind::Wait, None, None),
                };
                FlowNode {
                    id: step.id.clone(),
                    kind,
                    text: text.map_or(String::new(), |t| shorten(&base_source(t), TEXT_CHARS)),
                    quiz,
                    reachable: false,
                }
            })
            .collect();
        let mut flow = Flow {
            module: module.id.clone(),
            nodes,
            edges: Vec::new(),
        };
        for (i, step) in module.steps.iter().enumerate() {
            match &step.kind {
                StepKind::Say { next, .. } => flow.edge(i, next.index(), EdgeKind::Next, ""),
                StepKind::End { .. } => {}
                StepKind::Wait(wait) => {
                    let label = match wait.skip.as_slice() {
                        [] => String::new(),
                        words => shorten(&format!("or reply: {}", words.join(", ")), LABEL_CHARS),
                    };
                    flow.edge(i, wait.next.index(), EdgeKind::Next, &label);
                }
                StepKind::Ask(ask) => {
                    let targets: Vec<usize> = ask
                        .choices
                        .iter()
                        .map(|c| c.next.unwrap_or(ask.next).index())
                        .collect();
                    let right = match &ask.quiz {
                        Some(q) if !q.correct.is_empty() => {
                            let n: Vec<String> =
                                q.correct.iter().map(|c| (c + 1).to_string()).collect();
                            format!(" (right: {})", n.join(", "))
                        }
                        _ => String::new(),
                    };
                    match targets.as_slice() {
                        // Every choice leads to one step: one edge.
                        [first, rest @ ..]
                            if !rest.is_empty() && rest.iter().all(|t| t == first) =>
                        {
                            let label = format!("choices 1-{}{right}", targets.len());
                            flow.edge(i, *first, EdgeKind::Next, &label);
                        }
                        _ => {
                            for (n, (c, &to)) in ask.choices.iter().zip(&targets).enumerate() {
                                let mut label = shorten(
                                    &format!("{}. {}", n + 1, base_source(&c.text)),
                                    LABEL_CHARS,
                                );
                                if ask.quiz.as_ref().is_some_and(|q| q.correct.contains(&n)) {
                                    label.push_str(" (right)");
                                }
                                flow.edge(i, to, EdgeKind::Next, &label);
                            }
                        }
                    }
                    for r in &ask.answers {
                        let to = r.next.unwrap_or(ask.next).index();
                        flow.edge(i, to, EdgeKind::Next, &matcher_label(&r.matcher));
                    }
                    let label = match ask.retry.max_attempts {
                        1 => "no match".to_owned(),
                        n => format!("no match x{n}"),
                    };
                    flow.edge(
                        i,
                        ask.retry.on_exhausted.index(),
                        EdgeKind::Exhausted,
                        &label,
                    );
                }
            }
        }
        flow.mark_reachable();
        flow
    }

    /// Adds an edge, or joins its label to an edge of the same kind between
    /// the same steps.
    fn edge(&mut self, from: usize, to: usize, kind: EdgeKind, label: &str) {
        if let Some(e) = self
            .edges
            .iter_mut()
            .find(|e| e.from == from && e.to == to && e.kind == kind)
        {
            if !label.is_empty() {
                if !e.label.is_empty() {
                    e.label.push_str(" / ");
                }
                e.label.push_str(label);
            }
            return;
        }
        self.edges.push(FlowEdge {
            from,
            to,
            kind,
            label: label.to_owned(),
        });
    }

    fn mark_reachable(&mut self) {
        if self.nodes.is_empty() {
            return;
        }
        let mut stack = vec![0];
        self.nodes[0].reachable = true;
        while let Some(i) = stack.pop() {
            for e in self.edges.iter().filter(|e| e.from == i) {
                if !self.nodes[e.to].reachable {
                    self.nodes[e.to].reachable = true;
                    stack.push(e.to);
                }
            }
        }
    }

    /// A Mermaid flowchart (renders on GitHub in a ```` ```mermaid ````
    /// block). `ask` steps are boxes, `say` steps rounded, `end` steps
    /// stadiums, `wait` steps hexagons; quizzes are subgraphs; edges taken when attempts run out
    /// are dotted; unreachable steps are dashed and grey.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart TD\n");
        for quiz in [QuizKind::Pre, QuizKind::Post] {
            let members: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].quiz == Some(quiz))
                .collect();
            if members.is_empty() {
                continue;
            }
            let _ = writeln!(out, "  subgraph {q}_quiz [\"{q}-quiz\"]", q = quiz.as_str());
            for i in members {
                let _ = writeln!(out, "    {}", self.mermaid_node(i));
            }
            out.push_str("  end\n");
        }
        for i in (0..self.nodes.len()).filter(|&i| self.nodes[i].quiz.is_none()) {
            let _ = writeln!(out, "  {}", self.mermaid_node(i));
        }
        for e in &self.edges {
            let arrow = match e.kind {
                EdgeKind::Next => "-->",
                EdgeKind::Exhausted => "-.->",
            };
            if e.label.is_empty() {
                let _ = writeln!(out, "  s{} {arrow} s{}", e.from, e.to);
            } else {
                let _ = writeln!(
                    out,
                    "  s{} {arrow}|\"{}\"| s{}",
                    e.from,
                    mermaid_escape(&e.label),
                    e.to
                );
            }
        }
        let unreachable: Vec<String> = (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].reachable)
            .map(|i| format!("s{i}"))
            .collect();
        if !unreachable.is_empty() {
            out.push_str("  classDef unreachable fill:#eeeeee,stroke:#999999,stroke-dasharray:5 5,color:#666666\n");
            let _ = writeln!(out, "  class {} unreachable", unreachable.join(","));
        }
        out
    }

    fn mermaid_node(&self, i: usize) -> String {
        let n = &self.nodes[i];
        let mut label = format!("<b>{}</b>", mermaid_escape(&n.id));
        if !n.reachable {
            label.push_str(" (unreachable)");
        }
        if !n.text.is_empty() {
            let _ = write!(label, "<br/>{}", mermaid_escape(&n.text));
        }
        let (open, close) = match n.kind {
            FlowKind::Ask => ("[", "]"),
            FlowKind::Say => ("(", ")"),
            FlowKind::End => ("([", "])"),
            FlowKind::Wait => ("{{", "}}"),
        };
        format!("s{i}{open}\"{label}\"{close}")
    }

    /// A Graphviz digraph: the same picture as [`Flow::mermaid`], quizzes
    /// as clusters.
    pub fn dot(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&self.module));
        out.push_str("  rankdir=TB;\n  node [shape=box, fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n");
        for quiz in [QuizKind::Pre, QuizKind::Post] {
            let members: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].quiz == Some(quiz))
                .collect();
            if members.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  subgraph cluster_{q} {{\n    label=\"{q}-quiz\";\n    style=rounded;",
                q = quiz.as_str()
            );
            for i in members {
                let _ = writeln!(out, "    {}", self.dot_node(i));
            }
            out.push_str("  }\n");
        }
        for i in (0..self.nodes.len()).filter(|&i| self.nodes[i].quiz.is_none()) {
            let _ = writeln!(out, "  {}", self.dot_node(i));
        }
        for e in &self.edges {
            let mut attrs = Vec::new();
            if !e.label.is_empty() {
                attrs.push(format!("label=\"{}\"", dot_escape(&e.label)));
            }
            if e.kind == EdgeKind::Exhausted {
                attrs.push("style=dotted".to_owned());
            }
            if attrs.is_empty() {
                let _ = writeln!(out, "  s{} -> s{};", e.from, e.to);
            } else {
                let _ = writeln!(out, "  s{} -> s{} [{}];", e.from, e.to, attrs.join(", "));
            }
        }
        out.push_str("}\n");
        out
    }

    fn dot_node(&self, i: usize) -> String {
        let n = &self.nodes[i];
        let mut label = dot_escape(&n.id);
        if !n.reachable {
            label.push_str(" (unreachable)");
        }
        if !n.text.is_empty() {
            let _ = write!(label, "\\n{}", dot_escape(&n.text));
        }
        let shape = match n.kind {
            FlowKind::Ask => "box",
            FlowKind::Say => "note",
            FlowKind::End => "box, peripheries=2",
            FlowKind::Wait => "hexagon",
        };
        let style = if n.reachable {
            String::new()
        } else {
            ", style=\"dashed,filled\", fillcolor=\"#eeeeee\", fontcolor=\"#666666\"".to_owned()
        };
        format!("s{i} [label=\"{label}\", shape={shape}{style}];")
    }
}

/// A text's base-language template as an author would write it.
fn base_source(text: &Text) -> String {
    template_source(&text.by_lang[0].1)
}

fn template_source(t: &Template) -> String {
    let mut out = String::new();
    for part in &t.parts {
        match part {
            Part::Lit(s) => out.push_str(s),
            Part::Var(v) => {
                let _ = write!(out, "{{{}}}", var_name(*v));
            }
            Part::VarOr(v, d) => {
                let _ = write!(out, "{{{}|{d}}}", var_name(*v));
            }
        }
    }
    out
}

fn var_name(v: Var) -> &'static str {
    match v {
        Var::ModuleName => "module_name",
        Var::ModuleGoal => "module_goal",
        Var::LearnerName => "learner_name",
        Var::Score(QuizKind::Pre) => "pre_score",
        Var::Score(QuizKind::Post) => "post_score",
        Var::Total(QuizKind::Pre) => "pre_total",
        Var::Total(QuizKind::Post) => "post_total",
        Var::Answer => "answer",
        Var::AttemptsLeft => "attempts_left",
        Var::ResumeDay => "resume_day",
        Var::ResumeTime => "resume_time",
    }
}

fn matcher_label(m: &Matcher) -> String {
    let label = match m {
        Matcher::Keywords(words) => format!("keywords: {}", words.join(", ")),
        Matcher::Regex(re) => format!("regex: {}", re.as_str()),
        Matcher::Number { min, max } => match (min, max) {
            (None, None) => "a number".to_owned(),
            (Some(lo), None) => format!("number >= {lo}"),
            (None, Some(hi)) => format!("number <= {hi}"),
            (Some(lo), Some(hi)) => format!("number {lo}-{hi}"),
        },
        Matcher::Any => "anything else".to_owned(),
    };
    shorten(&label, LABEL_CHARS)
}

/// The text on one line, cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max - 1).collect();
    cut = cut.trim_end().to_owned();
    cut.push('…');
    cut
}

/// Mermaid labels are quoted; quotes, angle brackets, `#` and `|` become
/// entities.
fn mermaid_escape(s: &str) -> String {
    escape(
        s,
        &[
            ('"', "#quot;"),
            ('<', "#lt;"),
            ('>', "#gt;"),
            ('#', "#35;"),
            ('|', "#124;"),
        ],
    )
}

fn dot_escape(s: &str) -> String {
    escape(s, &[('"', "\\\""), ('\\', "\\\\"), ('\n', "\\n")])
}

/// `s` with each character in `table` replaced by its escape.
fn escape(s: &str, table: &[(char, &str)]) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match table.iter().find(|(from, _)| *from == c) {
            Some((_, to)) => out.push_str(to),
            None => out.push(c),
        }
    }
    out
}
