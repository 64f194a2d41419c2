//! The Click configuration language, as sluice reads it.
//!
//! A configuration goes through four steps, each usable on its own:
//!
//! 1. [`parse`] turns source text into an AST ([`ast`]) with a [`Span`] on every node;
//! 2. [`flatten`] expands compound elements (`elementclass`), substitutes `$parameters` and
//!    gives every element its hierarchical name (`fw/filter`), producing a [`FlatGraph`];
//! 3. [`check`] validates the flat graph against a [`ClassTable`] supplied by the caller
//!    (port counts, push/pull processing, unconnected ports);
//! 4. [`dot`] exports the flat graph for Graphviz.
//!
//! Every error is a [`Diagnostic`] that renders as `file:line:col: error: message` with the
//! source line and a caret, and every step reports all the errors it finds, not only the first.
//!
//! Element arguments stay verbatim in the graph; each element splits and reads its own with
//! [`args::Args`], Click-style.
//!
//! The crate is `no_std` + `alloc`: the same parser runs inside the unikernel. It never recurses
//! without bound, so a deep or huge configuration cannot overflow a small stack.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod args;
pub mod class;
pub mod graph;
pub mod span;

pub use class::{ClassSpec, ClassTable, PortRange, PortSpec, Processing, ProcessingCode};
pub use graph::{FlatConnection, FlatElement, FlatGraph};
pub use span::{Diagnostic, Diagnostics, Source, Span};
