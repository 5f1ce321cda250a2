//! A module's flow as an SVG picture, for the author preview: the engine's
//! [`Flow`] graph (the one `chatcourse graph` prints as Mermaid or DOT),
//! laid out in layers and drawn by the `layout-rs` crate (a Graphviz-like
//! layered layout with an SVG writer, no dependencies of its own), so the
//! server needs no Graphviz and the browser no diagram library.

use chatcourse_engine::QuizKind;
use chatcourse_engine::flow::{EdgeKind, Flow, FlowKind};
use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

/// Font size of step boxes and edge labels, in pixels.
const FONT: usize = 13;

/// The flow drawn as an SVG document (its own `<style>`; meant for an
/// `<img>`). `None` when the layout fails, which the preview reports as a
/// missing picture rather than failing the compile.
pub fn flow_svg(flow: &Flow) -> Option<String> {
    // layout-rs asserts on graphs it cannot place; a picture is optional.
    std::panic::catch_unwind(|| draw(flow)).ok()
}

fn draw(flow: &Flow) -> String {
    let mut graph = VisualGraph::new(Orientation::TopToBottom);
    let handles: Vec<_> = flow
        .nodes
        .iter()
        .map(|node| {
            let mut label = node.id.clone();
            if let Some(quiz) = node.quiz {
                label.push_str(match quiz {
                    QuizKind::Pre => " (pre-quiz)",
                    QuizKind::Post => " (post-quiz)",
                });
            }
            if !node.reachable {
                label.push_str(" (unreachable)");
            }
            if !node.text.is_empty() {
                label.push('\n');
                label.push_str(&node.text);
            }
            let (fill, rounded) = match (node.reachable, node.kind) {
                (false, _) => ("#eeeeee", 0),
                (true, FlowKind::Ask) => ("#e8f0fe", 0),
                (true, FlowKind::Say) => ("#ffffff", 12),
                (true, FlowKind::End) => ("#e6f4ea", 24),
                // A pause: amber, lightly rounded.
                (true, FlowKind::Wait) => ("#fff4e0", 6),
            };
            let shape = ShapeKind::new_box(&label);
            // Nodes of a top-to-bottom graph are laid out left to right.
            let direction = Orientation::LeftToRight;
            let size = get_shape_size(direction, &shape, FONT, false);
            let look = StyleAttr::new(
                Color::fast(if node.reachable { "#1f3a5f" } else { "#888888" }),
                1,
                Color::from_name(fill),
                rounded,
                FONT,
            );
            graph.add_node(Element::create(shape, look, direction, size))
        })
        .collect();
    for edge in &flow.edges {
        let (style, color) = match edge.kind {
            EdgeKind::Next => (LineStyleKind::Normal, "#1f3a5f"),
            EdgeKind::Exhausted => (LineStyleKind::Dashed, "#b3261e"),
        };
        let look = StyleAttr::new(Color::fast(color), 1, None, 0, FONT - 2);
        let arrow = Arrow::new(
            LineEndKind::None,
            LineEndKind::Arrow,
            style,
            &edge.label,
            &look,
            &None,
            &None,
        );
        graph.add_edge(arrow, handles[edge.from], handles[edge.to]);
    }
    let mut svg = SVGWriter::new();
    graph.do_it(false, false, false, &mut svg);
    svg.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_and_choice_is_in_the_picture() {
        let source = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../modules/test-module-updated.yaml"
        ))
        .unwrap();
        let module = chatcourse_engine::load_module(&source).module.unwrap();
        let flow = Flow::build(&module);
        let svg = flow_svg(&flow).expect("a picture");
        assert!(svg.starts_with("<svg") || svg.contains("<svg"), "{svg}");
        for node in &flow.nodes {
            assert!(svg.contains(&node.id), "step {} missing", node.id);
        }
        // Labels are escaped text, never markup.
        let labelled = flow.edges.iter().find(|e| !e.label.is_empty()).unwrap();
        let first_word = labelled.label.split_whitespace().next().unwrap();
        assert!(svg.contains(first_word), "{first_word}");
    }

    #[test]
    fn author_text_cannot_become_markup() {
        let source = "module: x\nname: \"<script>alert(1)</script>\"\ngoal: g\nversion: \"1\"\nlanguage: en\nsteps:\n  - id: a\n    say: \"<b>hi</b> & bye\"\n    next: b\n  - id: b\n    end: \"done\"\n";
        let result = chatcourse_engine::load_module(source);
        let module = result
            .module
            .unwrap_or_else(|| panic!("{:?}", result.diagnostics));
        let svg = flow_svg(&Flow::build(&module)).expect("a picture");
        assert!(!svg.contains("<b>hi"), "{svg}");
        assert!(
            svg.contains("&lt;b&gt;hi") || svg.contains("&lt;b>hi"),
            "{svg}"
        );
    }
}
