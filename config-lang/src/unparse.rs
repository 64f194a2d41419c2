//! Printing a flat graph back as Click text.

use alloc::format;
use alloc::string::String;

use crate::graph::FlatGraph;

/// A flat configuration equivalent to `graph`: `require`s, one declaration per element, one
/// connection per line. It parses again to the same graph (names, classes, configurations,
/// connections, requirements).
pub fn unparse(graph: &FlatGraph) -> String {
    let mut out = String::new();
    if !graph.requirements.is_empty() {
        out.push_str(&format!("require({});\n", graph.requirements.join(", ")));
    }
    for e in &graph.elements {
        if e.config.is_empty() {
            out.push_str(&format!("{} :: {};\n", e.name, e.class));
        } else {
            out.push_str(&format!("{} :: {}({});\n", e.name, e.class, e.config));
        }
    }
    let n = graph.elements.len();
    for c in &graph.connections {
        if c.from >= n || c.to >= n {
            continue;
        }
        out.push_str(&graph.elements[c.from].name);
        if c.from_port != 0 {
            out.push_str(&format!(" [{}]", c.from_port));
        }
        out.push_str(" -> ");
        if c.to_port != 0 {
            out.push_str(&format!("[{}] ", c.to_port));
        }
        out.push_str(&graph.elements[c.to].name);
        out.push_str(";\n");
    }
    out
}
