//! Building elements from their arguments.

use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;

use sluice_config::args::{self, Args};
use sluice_config::{Diagnostic, Diagnostics, FlatGraph};

use crate::element::{ConfigContext, Element, ElementClass};

use super::AddressBook;

/// Element instances as their constructors built them, before initialization.
pub(super) type Configured = Vec<(&'static ElementClass, Box<dyn Element>)>;

/// Builds every element from its arguments (address names first: every element's
/// arguments may use them), reporting every argument error of every element.
pub(super) fn configure(
    graph: &FlatGraph,
    classes: &[&'static ElementClass],
) -> Result<Configured, Diagnostics> {
    let mut diags = Diagnostics::default();
    let mut book = AddressBook::default();
    for e in graph.elements.iter().filter(|e| e.class == "AddressInfo") {
        for a in args::split(&e.config, e.config_span) {
            if let Err(m) = book.add(a.text) {
                diags.push(Diagnostic::error(a.span, m));
            }
        }
    }
    let (nin, nout) = graph.port_counts();
    let mut made: Configured = Vec::with_capacity(graph.elements.len());
    for (i, e) in graph.elements.iter().enumerate() {
        let Some(class) = classes.iter().copied().find(|c| c.name == e.class) else {
            diags.push(Diagnostic::error(
                e.span,
                format!("unknown element class '{}' (not in this build)", e.class),
            ));
            continue;
        };
        let cctx = ConfigContext {
            name: &e.name,
            ninputs: nin[i],
            noutputs: nout[i],
            span: e.span,
            names: &book,
        };
        let mut args = Args::new(&e.config, e.config_span).with_names(&book);
        let el = (class.make)(&mut args, &cctx);
        let errs = args.finish().err().unwrap_or_default();
        if el.is_none() && errs.is_empty() {
            // A constructor that refuses must say why; one that does not still stops the
            // router from starting, with the element named.
            diags.push(Diagnostic::error(
                e.span,
                format!("{} :: {}: could not be constructed", e.name, e.class),
            ));
        }
        for mut d in errs {
            d.message = format!("{} :: {}: {}", e.name, e.class, d.message);
            diags.push(d);
        }
        made.extend(el.map(|el| (class, el)));
    }
    if diags.is_empty() {
        Ok(made)
    } else {
        Err(diags)
    }
}

/// Checks every element's arguments as the router would when starting, without opening
/// files or devices: what `sluice check` and `sluice build` report beyond the graph checks,
/// so a configuration that checks clean also starts.
pub fn check_arguments(graph: &FlatGraph, classes: &[&'static ElementClass]) -> Diagnostics {
    configure(graph, classes).err().unwrap_or_default()
}
