//! Printing a flat graph back as Click text.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

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

/// Whether `graph` requires `compact_config`: its text is not kept, and the `config`
/// handler answers [`unparse_click`] instead.
pub fn requires_compact_config(graph: &FlatGraph) -> bool {
    graph
        .requirements
        .iter()
        .any(|r| r.split_whitespace().eq(["compact_config"]))
}

/// `graph` printed as Click's router prints itself (its `config` handler under
/// `require(compact_config)`): the requirements (packages quoted; libraries were read and
/// are not listed), a blank line, every element's declaration in router order, a blank
/// line, and the connections sorted by destination and drawn as chains: a connection into
/// port 0 continues with a connection out of the same element's port 0, preferring one
/// into a port 0 again.
pub fn unparse_click(graph: &FlatGraph) -> String {
    let mut out = String::new();
    let mut reqs: Vec<String> = Vec::new();
    for r in &graph.requirements {
        let words: Vec<&str> = r.split_whitespace().collect();
        match words.as_slice() {
            ["compact_config"] => reqs.push("compact_config".into()),
            ["library", ..] | [] => {}
            ["package", value] | [value] => {
                reqs.push(format!("package {}", crate::args::quote(value.as_bytes())))
            }
            _ => reqs.push(r.trim().into()),
        }
    }
    if !reqs.is_empty() {
        out.push_str(&format!("require({});\n\n", reqs.join(", ")));
    }
    for e in &graph.elements {
        if e.config.is_empty() {
            out.push_str(&format!("{} :: {};\n", e.name, e.class));
        } else {
            out.push_str(&format!("{} :: {}({});\n", e.name, e.class, e.config));
        }
    }
    if !graph.elements.is_empty() {
        out.push('\n');
    }
    let n = graph.elements.len();
    let mut conns: Vec<_> = graph
        .connections
        .iter()
        .filter(|c| c.from < n && c.to < n)
        .collect();
    conns.sort_by_key(|c| (c.to, c.to_port, c.from, c.from_port));
    conns.dedup();
    // The connections out of each element's port 0, in sorted order.
    let mut out_of: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, c) in conns.iter().enumerate() {
        if c.from_port == 0 {
            out_of.entry(c.from).or_default().push(i);
        }
    }
    let mut next = vec![None; conns.len()];
    let mut starts = vec![true; conns.len()];
    for (i, c) in conns.iter().enumerate() {
        if c.to_port != 0 {
            continue;
        }
        let candidates = out_of.get(&c.to).map_or(&[][..], Vec::as_slice);
        let others = candidates.iter().copied().filter(|&d| d != i);
        let mut chosen = None;
        for d in others {
            chosen = Some(d);
            if conns[d].to_port == 0 {
                break;
            }
        }
        if let Some(d) = chosen {
            next[i] = Some(d);
            starts[d] = false;
        }
    }
    let mut used = vec![false; conns.len()];
    loop {
        for start in 0..conns.len() {
            if used[start] || !starts[start] {
                continue;
            }
            let c = conns[start];
            out.push_str(&graph.elements[c.from].name);
            if c.from_port != 0 {
                out.push_str(&format!(" [{}]", c.from_port));
            }
            let mut at = Some(start);
            while let Some(d) = at.filter(|&d| !used[d]) {
                out.push_str(if d == start { " -> " } else { "\n    -> " });
                if conns[d].to_port != 0 {
                    out.push_str(&format!("[{}] ", conns[d].to_port));
                }
                out.push_str(&graph.elements[conns[d].to].name);
                used[d] = true;
                at = next[d];
            }
            out.push_str(";\n");
        }
        // What is left is on cycles: start anywhere on them.
        match used.iter().position(|u| !u) {
            Some(_) => {
                for (s, u) in starts.iter_mut().zip(&used) {
                    *s = !u;
                }
            }
            None => break,
        }
    }
    out
}
