//! Graphviz export of a flat graph.
//!
//! Each element is a record node: its input ports on the left, `name :: Class` in the
//! middle, its output ports on the right; each connection runs from an output port to an
//! input port, so port numbers are visible on both ends.

use alloc::format;
use alloc::string::String;
use alloc::vec;

use crate::graph::FlatGraph;

/// The graph in DOT syntax (`dot -Tsvg` renders it).
pub fn to_dot(graph: &FlatGraph) -> String {
    let n = graph.elements.len();
    let mut nin = vec![0usize; n];
    let mut nout = vec![0usize; n];
    for c in &graph.connections {
        if c.from < n && c.to < n {
            nout[c.from] = nout[c.from].max(c.from_port + 1);
            nin[c.to] = nin[c.to].max(c.to_port + 1);
        }
    }
    let mut out = String::from("digraph sluice {\n  rankdir=LR;\n  node [shape=record, fontname=\"Helvetica\", fontsize=10];\n  edge [arrowsize=0.6];\n");
    for (i, e) in graph.elements.iter().enumerate() {
        let ports = |count: usize, prefix: char| {
            let mut s = String::new();
            for p in 0..count {
                if p > 0 {
                    s.push('|');
                }
                s.push_str(&format!("<{prefix}{p}> {p}"));
            }
            s
        };
        let mut label = String::from("{");
        if nin[i] > 0 {
            label.push('{');
            label.push_str(&ports(nin[i], 'i'));
            label.push_str("}|");
        }
        label.push_str(&escape(&e.name));
        label.push_str("\\n:: ");
        label.push_str(&escape(&e.class));
        if nout[i] > 0 {
            label.push_str("|{");
            label.push_str(&ports(nout[i], 'o'));
            label.push('}');
        }
        label.push('}');
        out.push_str(&format!("  n{i} [label=\"{label}\"];\n"));
    }
    for c in &graph.connections {
        if c.from < n && c.to < n {
            out.push_str(&format!(
                "  n{}:o{}:e -> n{}:i{}:w;\n",
                c.from, c.from_port, c.to, c.to_port
            ));
        }
    }
    out.push_str("}\n");
    out
}

/// Escapes text for a record label inside a double-quoted DOT string.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '{' | '}' | '|' | '<' | '>' | '"' | '\\' | ' ') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{FlatConnection, FlatElement};
    use crate::span::Span;
    use alloc::string::ToString;

    #[test]
    fn records_with_ports() {
        let el = |name: &str, class: &str| FlatElement {
            name: name.to_string(),
            class: class.to_string(),
            config: String::new(),
            span: Span::default(),
            config_span: Span::default(),
        };
        let g = FlatGraph {
            elements: vec![el("c", "Classifier"), el("d", "Discard")],
            connections: vec![FlatConnection {
                from: 0,
                from_port: 1,
                to: 1,
                to_port: 0,
            }],
            requirements: vec![],
        };
        let dot = to_dot(&g);
        assert!(
            dot.contains("n0 [label=\"{c\\n:: Classifier|{<o0> 0|<o1> 1}}\"];"),
            "{dot}"
        );
        assert!(
            dot.contains("n1 [label=\"{{<i0> 0}|d\\n:: Discard}\"];"),
            "{dot}"
        );
        assert!(dot.contains("n0:o1:e -> n1:i0:w;"), "{dot}");
    }
}
