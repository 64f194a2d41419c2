//! Checks of a flat graph against the element classes: unknown classes, port counts,
//! unconnected ports, push/pull processing, and reuse of push outputs and pull inputs.
//!
//! Processing is resolved as Click does: push (`h`) and pull (`l`) ports are fixed; each
//! element's agnostic (`a`) ports share one mode, which spreads along connections from the
//! fixed ports around it (union-find over elements). Agnostic ports nobody constrains are push.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::class::{ClassSpec, ClassTable, Processing, ProcessingCode};
use crate::graph::{FlatConnection, FlatGraph};
use crate::span::{Diagnostic, Span};

/// Most unconnected ports reported per element side; the rest are summarised.
const MAX_PORT_REPORTS: usize = 4;

/// Checks `graph`; returns every problem found.
pub fn check_graph(graph: &FlatGraph, classes: &dyn ClassTable) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let n = graph.elements.len();
    let span_of = |i: usize| graph.elements.get(i).map_or(Span::default(), |e| e.span);

    // Names: unique.
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in graph.elements.iter().enumerate() {
        if names.insert(e.name.as_str(), i).is_some() {
            diags.push(Diagnostic::error(e.span, format!(
                "element '{}' is declared twice: rename one of them, or remove the second declaration",
                e.name
            )));
        }
    }

    // Classes.
    let all_names = classes.names();
    let specs: Vec<Option<&ClassSpec>> = graph
        .elements
        .iter()
        .map(|e| {
            let spec = classes.lookup(&e.class);
            if spec.is_none() {
                diags.push(Diagnostic::error(
                    e.span,
                    unknown_class_message(graph, e, &all_names),
                ));
            }
            spec
        })
        .collect();

    // Connections by port.
    let mut valid = Vec::with_capacity(graph.connections.len());
    for c in &graph.connections {
        if c.from >= n || c.to >= n {
            diags.push(Diagnostic::error(
                Span::default(),
                format!(
                    "a connection refers to element #{}, but the graph has only {n} elements",
                    c.from.max(c.to)
                ),
            ));
            continue;
        }
        valid.push(*c);
    }
    let mut outs: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n]; // (port, connection)
    let mut ins: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (k, c) in valid.iter().enumerate() {
        outs[c.from].push((c.from_port, k));
        ins[c.to].push((c.to_port, k));
    }
    for v in outs.iter_mut().chain(ins.iter_mut()) {
        v.sort_unstable();
    }

    // Port counts and unconnected ports.
    for (i, e) in graph.elements.iter().enumerate() {
        let Some(spec) = specs[i] else { continue };
        let used_in = ins[i].last().map_or(0, |&(p, _)| p + 1);
        let used_out = outs[i].last().map_or(0, |&(p, _)| p + 1);
        let label = format!("'{}' ({})", e.name, e.class);
        let nin = match spec.ports.inputs.max {
            Some(max) if used_in > max => {
                diags.push(Diagnostic::error(
                    e.span,
                    format!(
                        "{label} has no input [{}]: {} {}; connect to ports 0 to {} only",
                        used_in - 1,
                        e.class,
                        count_phrase(spec.ports.inputs.min, spec.ports.inputs.max, "input"),
                        max.saturating_sub(1)
                    ),
                ));
                max
            }
            _ => used_in.max(spec.ports.inputs.min),
        };
        let (out_min, out_max) = if spec.ports.outputs_equal_inputs {
            (nin, Some(nin))
        } else {
            (spec.ports.outputs.min, spec.ports.outputs.max)
        };
        let nout = match out_max {
            Some(max) if used_out > max => {
                let why = if spec.ports.outputs_equal_inputs {
                    format!("{} has as many outputs as inputs ({nin})", e.class)
                } else {
                    format!("{} {}", e.class, count_phrase(out_min, out_max, "output"))
                };
                diags.push(Diagnostic::error(
                    e.span,
                    format!(
                        "{label} has no output [{}]: {why}; connect from ports 0 to {} only",
                        used_out - 1,
                        max.saturating_sub(1)
                    ),
                ));
                max
            }
            _ => used_out.max(out_min),
        };
        report_unconnected(&mut diags, e.span, &label, &ins[i], nin, "input", |p| {
            format!("connect something to '{} [{p}]'", e.name)
        });
        report_unconnected(&mut diags, e.span, &label, &outs[i], nout, "output", |p| {
            format!(
                "connect '{} [{p}]' to something (Discard drops packets)",
                e.name
            )
        });
    }

    // Processing: union-find over elements for their agnostic ports.
    let mode = |i: usize, port: usize, output: bool| -> Option<Mode> {
        let spec = specs[i]?;
        Some(Mode::of(&spec.processing, i, port, output))
    };
    let uf = unify(n, &valid, mode, |c, a, b, (out_mode, in_mode)| {
        let from = &graph.elements[c.from];
        let to = &graph.elements[c.to];
        let agnostic = matches!(a, Mode::Var(_)) || matches!(b, Mode::Var(_));
        let note = if agnostic {
            " (agnostic ports take the mode of the elements around them)"
        } else {
            ""
        };
        let msg = if out_mode == Processing::Push && in_mode == Processing::Pull {
            format!(
                "'{}' [{}] is a push output but '{}' [{}] is a pull input{note}: put a Queue between them ({} -> Queue -> {})",
                from.name, c.from_port, to.name, c.to_port, from.name, to.name
            )
        } else {
            format!(
                "'{}' [{}] is a pull output but '{}' [{}] is a push input{note}: nothing would pull packets out of '{}'; connect it to a pull input such as ToDevice, or put an Unqueue between them",
                from.name, c.from_port, to.name, c.to_port, from.name
            )
        };
        diags.push(Diagnostic::error(to.span, msg));
    });
    let resolved = |i: usize, port: usize, output: bool| Some(uf.resolve(mode(i, port, output)?));

    // Reuse: a push output feeds one input; a pull input pulls from one output.
    for i in 0..n {
        for (port, count) in runs(&outs[i]) {
            if count > 1 && resolved(i, port, true) == Some(Processing::Push) {
                diags.push(Diagnostic::error(span_of(i), format!(
                    "push output '{}' [{port}] is connected {count} times, but a push output feeds exactly one input: use a Tee to copy packets to several places",
                    graph.elements[i].name
                )));
            }
        }
        for (port, count) in runs(&ins[i]) {
            if count > 1 && resolved(i, port, false) == Some(Processing::Pull) {
                diags.push(Diagnostic::error(span_of(i), format!(
                    "pull input '{}' [{port}] has {count} connections, but a pull input pulls from exactly one output: merge them with a scheduler such as RoundRobinSched",
                    graph.elements[i].name
                )));
            }
        }
    }
    // A compound's body used many times says what is wrong in it once, as Click does.
    let mut seen = BTreeSet::new();
    diags.retain(|d| seen.insert((d.span.file, d.span.start, d.span.end, d.message.clone())));
    diags
}

/// `(port, number of connections)` for each distinct port of a sorted list.
fn runs(v: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &(p, _) in v {
        match out.last_mut() {
            Some((q, c)) if *q == p => *c += 1,
            _ => out.push((p, 1)),
        }
    }
    out
}

fn count_phrase(min: usize, max: Option<usize>, what: &str) -> String {
    match max {
        Some(m) if m == min && m == 1 => format!("has 1 {what}"),
        Some(m) if m == min => format!("has {m} {what}s"),
        Some(m) => format!("has {min} to {m} {what}s"),
        None => format!("has at least {min} {what}s"),
    }
}

fn report_unconnected(
    diags: &mut Vec<Diagnostic>,
    span: Span,
    label: &str,
    used: &[(usize, usize)],
    count: usize,
    what: &str,
    fix: impl Fn(usize) -> String,
) {
    let mut missing = Vec::new();
    let mut total = 0usize;
    let mut next = 0usize;
    let check_gap = |from: usize, to: usize, missing: &mut Vec<usize>, total: &mut usize| {
        for p in from..to {
            if missing.len() < MAX_PORT_REPORTS {
                missing.push(p);
            } else {
                *total += to - p;
                return;
            }
            *total += 1;
        }
    };
    for &(p, _) in used {
        if p >= count {
            break;
        }
        if p > next {
            check_gap(next, p, &mut missing, &mut total);
        }
        next = p + 1;
    }
    if count > next {
        check_gap(next, count, &mut missing, &mut total);
    }
    for &p in &missing {
        diags.push(Diagnostic::error(
            span,
            format!("{what} [{p}] of {label} is not connected: {}", fix(p)),
        ));
    }
    if total > missing.len() {
        diags.push(Diagnostic::error(
            span,
            format!(
                "{} more {what} ports of {label} are not connected",
                total - missing.len()
            ),
        ));
    }
}

/// The message for an element whose class the table does not know.
fn unknown_class_message(
    graph: &FlatGraph,
    e: &crate::graph::FlatElement,
    classes: &[&str],
) -> String {
    let local = e.name.rsplit('/').next().unwrap_or(&e.name);
    let anonymous = local
        .strip_prefix(e.class.as_str())
        .and_then(|r| r.strip_prefix('@'))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    let looks_like_name = e
        .class
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase());
    if anonymous && looks_like_name && e.config.is_empty() {
        // `a -> b` where `b` was never declared reads as an anonymous element of class `b`.
        let scope = &e.name[..e.name.len() - local.len()];
        let declared: Vec<&str> = graph
            .elements
            .iter()
            .filter_map(|x| x.name.strip_prefix(scope))
            .filter(|x| !x.contains('/') && !x.contains('@'))
            .collect();
        let hint = match suggest(&e.class, &declared) {
            Some(s) => format!("; did you mean '{s}'?"),
            None => format!(
                ": declare it before connecting it, such as '{} :: Counter;'",
                e.class
            ),
        };
        return format!("undeclared element '{}'{hint}", e.class);
    }
    match suggest(&e.class, classes) {
        Some(s) => format!("unknown element class '{}'; did you mean '{s}'?", e.class),
        None => format!(
            "unknown element class '{}': check the spelling, or declare it with 'elementclass {} {{ ... }}'",
            e.class, e.class
        ),
    }
}

/// The closest candidate to `word`, if it is close enough to be a likely typo.
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for &c in candidates {
        if c == word {
            continue;
        }
        let d = if c.eq_ignore_ascii_case(word) {
            0
        } else {
            edit_distance(word, c)
        };
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 3 {
        return usize::MAX;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        d[i * w] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// The processing of every port of a graph, agnostic ports resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortProcessing {
    /// Per element, per input port it uses.
    pub inputs: Vec<Vec<Processing>>,
    /// Per element, per output port it uses.
    pub outputs: Vec<Vec<Processing>>,
}

/// Resolves every port of `graph` to push or pull, as [`check`](crate::check) does (see
/// the module docs); `codes[i]` is element `i`'s processing. The ports are those the connections use.
/// A conflict, which `check` reports, keeps the mode its set took first. Linear in
/// elements and connections (up to the union-find's inverse Ackermann factor).
pub fn resolve_processing(graph: &FlatGraph, codes: &[ProcessingCode]) -> PortProcessing {
    let n = graph.elements.len();
    let mode = |i: usize, port: usize, output: bool| -> Option<Mode> {
        Some(Mode::of(codes.get(i)?, i, port, output))
    };
    let valid: Vec<FlatConnection> = graph
        .connections
        .iter()
        .filter(|c| c.from < n && c.to < n)
        .copied()
        .collect();
    let uf = unify(n, &valid, mode, |_, _, _, _| {});
    let (nin, nout) = graph.port_counts();
    let side = |counts: &[usize], output: bool| -> Vec<Vec<Processing>> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                (0..k)
                    .map(|p| mode(i, p, output).map_or(Processing::Push, |m| uf.resolve(m)))
                    .collect()
            })
            .collect()
    };
    PortProcessing {
        inputs: side(&nin, false),
        outputs: side(&nout, true),
    }
}

/// Spreads fixed modes along `connections` over the elements' agnostic ports; calls
/// `conflict(connection, output mode, input mode, (output's, input's))` where two meet that
/// differ.
fn unify(
    n: usize,
    connections: &[FlatConnection],
    mode: impl Fn(usize, usize, bool) -> Option<Mode>,
    mut conflict: impl FnMut(&FlatConnection, Mode, Mode, (Processing, Processing)),
) -> UnionFind {
    let mut uf = UnionFind::new(n);
    for c in connections {
        let (Some(a), Some(b)) = (
            mode(c.from, c.from_port, true),
            mode(c.to, c.to_port, false),
        ) else {
            continue;
        };
        let clash = match (a, b) {
            (Mode::Fixed(x), Mode::Fixed(y)) => (x != y).then_some((x, y)),
            (Mode::Fixed(x), Mode::Var(v)) => uf.set(v, x).err().map(|y| (x, y)),
            (Mode::Var(v), Mode::Fixed(y)) => uf.set(v, y).err().map(|x| (x, y)),
            (Mode::Var(v), Mode::Var(w)) => uf.union(v, w).err(),
        };
        if let Some(modes) = clash {
            conflict(c, a, b, modes);
        }
    }
    uf
}

/// A port's mode before resolution: fixed, or its element's agnostic variable.
#[derive(Clone, Copy)]
enum Mode {
    Fixed(Processing),
    Var(usize),
}

impl Mode {
    fn of(code: &ProcessingCode, element: usize, port: usize, output: bool) -> Mode {
        let p = if output {
            code.output(port)
        } else {
            code.input(port)
        };
        match p {
            Processing::Push => Mode::Fixed(Processing::Push),
            Processing::Pull => Mode::Fixed(Processing::Pull),
            Processing::Agnostic => Mode::Var(element),
        }
    }
}

/// Union-find over elements; each set may carry a resolved mode.
struct UnionFind {
    parent: Vec<usize>,
    value: Vec<Option<Processing>>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
            value: vec![None; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        let mut root = x;
        while self.parent[root] != root {
            root = self.parent[root];
        }
        while self.parent[x] != root {
            let next = self.parent[x];
            self.parent[x] = root;
            x = next;
        }
        root
    }

    /// A port's resolved mode: fixed, its set's, or push when nothing constrains it.
    fn resolve(&self, m: Mode) -> Processing {
        match m {
            Mode::Fixed(p) => p,
            Mode::Var(v) => self.value(v).unwrap_or(Processing::Push),
        }
    }

    fn value(&self, x: usize) -> Option<Processing> {
        let mut root = x;
        while self.parent[root] != root {
            root = self.parent[root];
        }
        self.value[root]
    }

    /// Sets the mode of `x`'s set; `Err(existing)` if it already has a different one.
    fn set(&mut self, x: usize, p: Processing) -> Result<(), Processing> {
        let r = self.find(x);
        match self.value[r] {
            Some(v) if v != p => Err(v),
            _ => {
                self.value[r] = Some(p);
                Ok(())
            }
        }
    }

    /// Joins two sets; `Err((a, b))` if their modes differ.
    fn union(&mut self, a: usize, b: usize) -> Result<(), (Processing, Processing)> {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return Ok(());
        }
        match (self.value[ra], self.value[rb]) {
            (Some(x), Some(y)) if x != y => Err((x, y)),
            (va, vb) => {
                self.parent[rb] = ra;
                self.value[ra] = va.or(vb);
                Ok(())
            }
        }
    }
}
