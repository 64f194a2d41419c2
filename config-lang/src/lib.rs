//! The Click configuration language, as sluice reads it.
//!
//! A configuration goes through four steps, each usable on its own:
//!
//! 1. [`parse`] turns source text into an AST ([`ast`]) with a [`Span`] on every node;
//! 2. [`flatten`] expands compound elements (`elementclass`), substitutes `$parameters` and
//!    gives every element its hierarchical name (`fw/filter`), producing a [`FlatGraph`];
//! 3. [`check`] validates the flat graph against a [`ClassTable`] supplied by the caller
//!    (port counts, push/pull processing, unconnected ports);
//! 4. [`dot`] exports the flat graph for Graphviz, and [`unparse`] prints it back as Click.
//!
//! [`load`] runs the first three and returns every error at once ([`load_all`] also hands
//! back the graph, for callers that check more).
//!
//! Every error is a [`Diagnostic`] that renders as `file:line:col: error: message` with the
//! source line and a caret, and every step reports all the errors it finds, not only the first.
//!
//! Element arguments stay verbatim in the graph; each element splits and reads its own with
//! [`args::Args`], Click-style.
//!
//! The crate is `no_std` + `alloc`: the same parser runs inside the unikernel. It never recurses
//! without bound, so a deep or huge configuration cannot overflow a small stack.
//!
//! ```
//! use sluice_config::{load, ClassSpec, Source};
//! let classes = vec![
//!     ClassSpec::new("InfiniteSource", "0/1", "a/a"),
//!     ClassSpec::new("Counter", "1/1", "a/a"),
//!     ClassSpec::new("Discard", "1/0", "a/a"),
//! ];
//! let src = Source::new("x.click", "InfiniteSource -> c :: Counter -> Discard;");
//! let graph = load(&src, &[], &classes).unwrap();
//! assert_eq!(graph.elements[0].name, "InfiniteSource@1");
//! assert_eq!(graph.elements[1].name, "c");
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;

pub mod args;
pub mod ast;
mod check;
pub mod class;
pub mod compact;
pub mod dot;
mod flatten;
pub mod graph;
pub mod lexer;
pub mod library;
mod parser;
pub mod span;
mod unparse;

pub use check::{resolve_processing, suggest, PortProcessing};
pub use class::{ClassSpec, ClassTable, PortRange, PortSpec, Processing, ProcessingCode};
pub use flatten::MAX_ELEMENTS;
pub use graph::{FlatConnection, FlatElement, FlatGraph};
pub use parser::MAX_PORT;
pub use span::{Diagnostic, Diagnostics, Source, Span};
pub use unparse::{requires_compact_config, unparse, unparse_click};

/// Parses `source`, whose spans will carry file index `file`. Reports every syntax error the
/// parser can recover from, in source order.
pub fn parse(source: &Source, file: u16) -> Result<ast::Config, Diagnostics> {
    let (config, diags) = parser::parse_text(&source.text, file);
    if diags.is_empty() {
        Ok(config)
    } else {
        Err(sorted(diags))
    }
}

/// Expands compound elements and parameters into a flat graph. `params` are `NAME=value`
/// settings from outside (the name with or without `$`); they override the file's top-level
/// `define`s.
pub fn flatten(
    config: &ast::Config,
    params: &[(String, String)],
) -> Result<FlatGraph, Diagnostics> {
    let (graph, diags) = flatten::flatten_config(config, params);
    if diags.is_empty() {
        Ok(graph)
    } else {
        Err(sorted(diags))
    }
}

/// Checks a flat graph against the classes it may use: unknown classes (with a suggestion),
/// duplicate names, port counts, unconnected ports, push/pull conflicts, and reuse of push
/// outputs and pull inputs. Empty when the graph is fine.
pub fn check(graph: &FlatGraph, classes: &dyn ClassTable) -> Diagnostics {
    sorted(check::check_graph(graph, classes))
}

/// Parses (as file 0), flattens and checks `source`, reporting every error of every step.
/// Checking runs even when flattening found problems, so one run shows them all; a file
/// with syntax errors stops after parsing.
pub fn load(
    source: &Source,
    params: &[(String, String)],
    classes: &dyn ClassTable,
) -> Result<FlatGraph, Diagnostics> {
    match load_all(source, params, classes) {
        (Some(graph), diags) if diags.is_empty() => Ok(graph),
        (_, diags) => Err(diags),
    }
}

/// As [`load`], but hands back the flattened graph together with its errors, so a caller
/// that checks more (element arguments) reports everything in one run. The graph is `None`
/// only when the file has syntax errors; with other errors it holds every element and
/// connection flattening could make sense of.
pub fn load_all(
    source: &Source,
    params: &[(String, String)],
    classes: &dyn ClassTable,
) -> (Option<FlatGraph>, Diagnostics) {
    let config = match parse(source, 0) {
        Ok(c) => c,
        Err(diags) => return (None, diags),
    };
    let (graph, mut diags) = flatten::flatten_config(&config, params);
    diags.extend(check::check_graph(&graph, classes));
    (Some(graph), sorted(diags))
}

/// [`load_all`] for a configuration already parsed (with its libraries spliced in, see
/// [`library`]).
pub fn load_parsed(
    config: &ast::Config,
    params: &[(String, String)],
    classes: &dyn ClassTable,
) -> (FlatGraph, Diagnostics) {
    let (graph, mut diags) = flatten::flatten_config(config, params);
    diags.extend(check::check_graph(&graph, classes));
    (graph, sorted(diags))
}

fn sorted(diags: alloc::vec::Vec<Diagnostic>) -> Diagnostics {
    let mut diags = Diagnostics(diags);
    diags.sort();
    diags
}

/// `v` in ascending order, by a heapsort (`BinaryHeap::into_sorted_vec`): O(n log n) and
/// not stable (give equal items a tiebreak). For code that is not on a packet path and
/// goes into VM images: the slice sorts cost kilobytes of code per item type, this a few
/// hundred bytes.
pub fn heap_sorted<T: Ord>(v: alloc::vec::Vec<T>) -> alloc::vec::Vec<T> {
    alloc::collections::BinaryHeap::from(v).into_sorted_vec()
}
