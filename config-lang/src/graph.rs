//! The flattened graph: what the router instantiates.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::span::Span;

/// One element after flattening: compound elements are gone, names are hierarchical.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlatElement {
    /// Hierarchical name, e.g. `fw/filter`; anonymous elements get Click's `Class@N` names.
    pub name: String,
    /// Primitive class name.
    pub class: String,
    /// The configuration string, verbatim after `$parameter` substitution.
    pub config: String,
    /// Where the element was declared (for errors from the element's own argument parser).
    pub span: Span,
    /// Where its configuration string starts in the source (for argument spans).
    pub config_span: Span,
}

/// A connection `from [from_port] -> [to_port] to`, by element index in [`FlatGraph::elements`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlatConnection {
    /// Upstream element index.
    pub from: usize,
    /// Upstream output port.
    pub from_port: usize,
    /// Downstream element index.
    pub to: usize,
    /// Downstream input port.
    pub to_port: usize,
}

/// A configuration with every compound element expanded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlatGraph {
    /// Elements in declaration order.
    pub elements: Vec<FlatElement>,
    /// Connections, deduplicated, in source order.
    pub connections: Vec<FlatConnection>,
    /// `require(...)` arguments, verbatim.
    pub requirements: Vec<String>,
}

impl FlatGraph {
    /// A graph from `(name, class, config)` triples and `(from, from_port, to, to_port)`
    /// connections, without source positions: for tests and generated graphs.
    pub fn from_parts(
        elements: &[(&str, &str, &str)],
        connections: &[(usize, usize, usize, usize)],
    ) -> Self {
        use alloc::string::ToString;
        FlatGraph {
            elements: elements
                .iter()
                .map(|(name, class, config)| FlatElement {
                    name: name.to_string(),
                    class: class.to_string(),
                    config: config.to_string(),
                    span: Span::default(),
                    config_span: Span::default(),
                })
                .collect(),
            connections: connections
                .iter()
                .map(|&(from, from_port, to, to_port)| FlatConnection {
                    from,
                    from_port,
                    to,
                    to_port,
                })
                .collect(),
            requirements: Vec::new(),
        }
    }

    /// The index of the element called `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.elements.iter().position(|e| e.name == name)
    }

    /// How many input and output ports each element uses (one more than the highest
    /// connected), all in one pass over the connections.
    pub fn port_counts(&self) -> (Vec<usize>, Vec<usize>) {
        let n = self.elements.len();
        let (mut ins, mut outs) = (vec![0; n], vec![0; n]);
        for c in &self.connections {
            if let Some(k) = ins.get_mut(c.to) {
                *k = (*k).max(c.to_port + 1);
            }
            if let Some(k) = outs.get_mut(c.from) {
                *k = (*k).max(c.from_port + 1);
            }
        }
        (ins, outs)
    }

    /// How many input ports element `i` uses (one more than the highest connected). Scans
    /// every connection: for all elements, [`port_counts`](Self::port_counts).
    pub fn ninputs(&self, i: usize) -> usize {
        self.connections
            .iter()
            .filter(|c| c.to == i)
            .map(|c| c.to_port + 1)
            .max()
            .unwrap_or(0)
    }

    /// How many output ports element `i` uses.
    pub fn noutputs(&self, i: usize) -> usize {
        self.connections
            .iter()
            .filter(|c| c.from == i)
            .map(|c| c.from_port + 1)
            .max()
            .unwrap_or(0)
    }
}
