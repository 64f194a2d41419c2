//! Building elements from their arguments.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use sluice_config::args::{self, Args, NameLookup};
use sluice_config::{Diagnostic, Diagnostics, FlatGraph};

use crate::element::{ConfigContext, Element, ElementClass, NameTable};

/// Element instances as their constructors built them, before initialization.
pub(super) type Configured = Vec<(&'static ElementClass, Box<dyn Element>)>;

/// What [`configure`] does with an element whose class is not in the registry.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum UnknownClass {
    /// Reports it: the router cannot start without the class.
    Report,
    /// Skips it: the graph check has reported it already.
    Skip,
}

/// Builds every element from its arguments (address names first: every element's
/// arguments may use them), reporting every argument error of every element.
pub(super) fn configure(
    graph: &FlatGraph,
    classes: &[&'static ElementClass],
    unknown: UnknownClass,
    prepared: &[Option<&[u8]>],
) -> Result<(Configured, Names), Diagnostics> {
    let mut diags = Diagnostics::default();
    // Each element's class, looked up once for both passes.
    // The first class of a name wins, as in a search of the list.
    // (Names sorted with their positions, searched by bisection: a map type would add
    // kilobytes of code to VM images.)
    let by_name = sluice_config::heap_sorted(
        classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name, i))
            .collect(),
    );
    let class_of: Vec<Option<&'static ElementClass>> = graph
        .elements
        .iter()
        .map(|e| {
            let name = e.class.as_str();
            let first = by_name.partition_point(|&(n, _)| n < name);
            by_name
                .get(first)
                .filter(|&&(n, _)| n == name)
                .map(|&(_, i)| classes[i])
        })
        .collect();
    let mut book = Names::default();
    for (e, class) in graph.elements.iter().zip(&class_of) {
        let Some(make_table) = class.and_then(|c| c.names) else {
            continue;
        };
        let table = book.table(&e.class, make_table);
        for a in args::split(&e.config, e.config_span) {
            if let Err(m) = table.declare(a.text) {
                diags.push(Diagnostic::error(a.span, m));
            }
        }
    }
    let (nin, nout) = graph.port_counts();
    let mut made: Configured = Vec::with_capacity(graph.elements.len());
    for (i, e) in graph.elements.iter().enumerate() {
        let Some(class) = class_of[i] else {
            if unknown == UnknownClass::Skip {
                continue;
            }
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
            prepared: prepared.get(i).copied().flatten(),
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
        Ok((made, book))
    } else {
        Err(diags)
    }
}

/// Checks every element's arguments as the router would when starting, without opening
/// files or devices: what `sluice check` and `sluice build` report beyond the graph checks,
/// so a configuration that checks clean also starts. Elements of classes not in `classes`
/// are skipped: the graph check (`sluice_config::check`) reports those, so the two checks
/// run side by side and report every error once.
pub fn check_arguments(graph: &FlatGraph, classes: &[&'static ElementClass]) -> Diagnostics {
    configure(graph, classes, UnknownClass::Skip, &[])
        .err()
        .unwrap_or_default()
}

/// Builds every element as the router would and collects what each computed from its
/// arguments ([`Element::prepared`]), one entry per element of `graph`: what `sluice build`
/// embeds in an image so that the guest, given it through [`Router::new_prepared`]
/// (with the classes' prepared forms), does not compute it again at boot.
///
/// [`Router::new_prepared`]: crate::Router::new_prepared
pub fn prepare(
    graph: &FlatGraph,
    classes: &[&'static ElementClass],
) -> Result<Vec<Option<Vec<u8>>>, Diagnostics> {
    let (made, _) = configure(graph, classes, UnknownClass::Report, &[])?;
    Ok(made.iter().map(|(_, e)| e.prepared()).collect())
}

/// The name tables of a configuration, one per declaring class; a name resolves in the
/// first table that has it.
#[derive(Default)]
pub(super) struct Names {
    tables: Vec<(String, Box<dyn NameTable>)>,
}

impl Names {
    fn table(&mut self, class: &str, make: fn() -> Box<dyn NameTable>) -> &mut dyn NameTable {
        let k = match self.tables.iter().position(|(c, _)| c == class) {
            Some(k) => k,
            None => {
                self.tables.push((class.into(), make()));
                self.tables.len() - 1
            }
        };
        &mut *self.tables[k].1
    }
}

impl NameLookup for Names {
    fn lookup(&self, name: &str, kind: &str) -> Option<String> {
        self.tables.iter().find_map(|(_, t)| t.lookup(name, kind))
    }
}
