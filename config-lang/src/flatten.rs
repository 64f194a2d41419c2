//! Flattening: compound elements expanded, parameters substituted, names made hierarchical.
//!
//! Every compound instance and element group becomes a *tunnel*: connections into the
//! instance enter the tunnel's `input` end, connections inside leave from it, and likewise for
//! `output`. Scopes (the file, and each compound instance) are processed from a work list, not
//! by recursion; within a scope, element groups are walked with an explicit stack. Once every
//! scope is done, each connection leaving a real element is followed through the tunnels to
//! the real elements it reaches.
//!
//! A compound instance is expanded only after the whole scope that uses it has been read,
//! because its overload is chosen by how many of its ports are connected.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use crate::args;
use crate::ast::*;
use crate::graph::{FlatConnection, FlatElement, FlatGraph};
use crate::span::{Diagnostic, Span};

/// The most elements (primitive and compound) one configuration may expand to. Compounds that
/// use each other twice per level grow exponentially; this stops such a configuration with an
/// error instead of exhausting memory.
pub const MAX_ELEMENTS: usize = 1_000_000;

/// Flattens `cfg`; returns the graph built so far and every error.
pub fn flatten_config(cfg: &Config, params: &[(String, String)]) -> (FlatGraph, Vec<Diagnostic>) {
    let mut f = Flattener::new(cfg);
    f.run(params);
    f.finish()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Real(u32),
    /// The `input` end of a tunnel.
    In(u32),
    /// The `output` end of a tunnel.
    Out(u32),
}

/// An endpoint as a connection statement sees it, before forward references are known.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Target(Target),
    /// A name declared in this scope (possibly later in the text).
    Slot(u32),
    /// `input`/`output` on the wrong side of an arrow; the error is reported when used.
    Misuse,
}

/// What a connection statement needs to know about one of its elements.
#[derive(Clone, Copy, Debug)]
struct Resolved {
    src: Endpoint,
    dst: Endpoint,
    /// `Some((inputs, outputs))` for an element group: its default port lists.
    group: Option<(usize, usize)>,
}

struct Edge {
    from: Target,
    from_port: usize,
    to: Target,
    to_port: usize,
}

struct PendingEdge {
    from: Endpoint,
    from_port: usize,
    to: Endpoint,
    to_port: usize,
    span: Span,
}

#[derive(Clone, Debug)]
enum Overload {
    Body {
        body: BodyId,
        env: u32,
        classes: Option<u32>,
    },
    Primitive(String),
}

#[derive(Clone, Debug)]
enum ClassValue {
    Primitive(String),
    Compound(Vec<Overload>),
}

/// One `elementclass` definition, in a persistent list: each scope sees the definitions that
/// lexically precede it by following `prev` links.
struct ClassEntry {
    name: String,
    value: ClassValue,
    prev: Option<u32>,
}

struct Env {
    vars: BTreeMap<String, String>,
    parent: Option<u32>,
}

struct RealElement {
    name: String,
    class: String,
    config: String,
    span: Span,
    config_span: Span,
}

enum Item {
    Element(u32),
    Instance(u32),
}

/// A compound instance waiting to be (or already) expanded.
struct Instance {
    name: String,
    class_name: String,
    overloads: Vec<Overload>,
    config: Option<(String, Span)>,
    span: Span,
    tunnel: u32,
    items: Vec<Item>,
}

struct Tunnel {
    /// For messages: `'fw' (class Firewall)` or `the element group`.
    label: String,
    span: Span,
    /// Ports the inside provides, once known.
    ninputs: usize,
    noutputs: usize,
}

#[derive(Clone, Default)]
struct PortUse {
    inputs: BTreeSet<usize>,
    outputs: BTreeSet<usize>,
}

impl PortUse {
    fn counts(&self) -> (usize, usize) {
        let n = |s: &BTreeSet<usize>| s.iter().next_back().map_or(0, |m| m + 1);
        (n(&self.inputs), n(&self.outputs))
    }
}

struct Flattener<'c> {
    cfg: &'c Config,
    diags: Vec<Diagnostic>,
    elements: Vec<RealElement>,
    instances: Vec<Instance>,
    tunnels: Vec<Tunnel>,
    edges: Vec<Edge>,
    classes: Vec<ClassEntry>,
    envs: Vec<Env>,
    requirements: Vec<String>,
    /// Syntactic port use of `input`/`output` in each body.
    body_ports: Vec<PortUse>,
    work: Vec<u32>,
    too_big: bool,
    /// For each compound tunnel, the input and output ports its users connect.
    tunnel_use: BTreeMap<u32, (BTreeSet<usize>, BTreeSet<usize>)>,
}

/// Per-scope state while one body (and its groups) is walked.
struct Scope {
    inst: u32,
    prefix: String,
    env: u32,
    classes: Option<u32>,
    slots: BTreeMap<String, u32>,
    slot_values: Vec<Option<Resolved>>,
    used_names: BTreeSet<String>,
    count: usize,
    pending: Vec<PendingEdge>,
    /// Tunnels of groups in this scope, checked for unconnected ports at the end.
    groups: Vec<u32>,
    /// Compound instances created in this scope, expanded after it.
    children: Vec<u32>,
}

impl Scope {
    /// Whether `name` is declared here and its element already created.
    fn is_filled(&self, name: &str) -> bool {
        self.slots
            .get(name)
            .is_some_and(|&s| self.slot_values[s as usize].is_some())
    }
}

enum Frame {
    Body {
        body: BodyId,
        next: usize,
        tunnel: Option<u32>,
    },
    Conn {
        body: BodyId,
        stmt: usize,
        tunnel: Option<u32>,
        sec: usize,
        el: usize,
        resolved: Vec<Vec<Option<Resolved>>>,
    },
}

const PSEUDO_NAMES: [&str; 2] = ["input", "output"];

impl<'c> Flattener<'c> {
    fn new(cfg: &'c Config) -> Self {
        let mut f = Self {
            cfg,
            diags: Vec::new(),
            elements: Vec::new(),
            instances: Vec::new(),
            tunnels: Vec::new(),
            edges: Vec::new(),
            classes: Vec::new(),
            envs: Vec::new(),
            requirements: Vec::new(),
            body_ports: Vec::new(),
            work: Vec::new(),
            too_big: false,
            tunnel_use: BTreeMap::new(),
        };
        f.compute_body_ports();
        f
    }

    fn error(&mut self, span: Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }

    /// For each body, which `input` output ports and `output` input ports its connections
    /// use. Nested bodies have smaller ids, so one pass in id order sees groups first.
    fn compute_body_ports(&mut self) {
        let cfg = self.cfg;
        for body in &cfg.bodies {
            let mut use_ = PortUse::default();
            for stmt in &body.stmts {
                let Stmt::Connection(c) = stmt else { continue };
                let body_ports = &self.body_ports;
                let info = |s: usize, k: usize| match c.sections[s][k].reference {
                    ElementRef::Group(b) => body_ports.get(b.0 as usize).map(PortUse::counts),
                    _ => None,
                };
                let pseudo = |(s, k): (usize, usize)| match &c.sections[s][k].reference {
                    ElementRef::Implicit(p) => Some(*p),
                    ElementRef::Name(n) if n.name == "input" => Some(Pseudo::Input),
                    ElementRef::Name(n) if n.name == "output" => Some(Pseudo::Output),
                    _ => None,
                };
                expand_connection(
                    c,
                    &info,
                    &mut |l, lp, r, rp| {
                        if pseudo(l) == Some(Pseudo::Input) {
                            use_.inputs.insert(lp);
                        }
                        if pseudo(r) == Some(Pseudo::Output) {
                            use_.outputs.insert(rp);
                        }
                    },
                    &mut |_, _| {},
                );
            }
            self.body_ports.push(use_);
        }
    }

    fn new_env(&mut self, parent: Option<u32>) -> u32 {
        self.envs.push(Env {
            vars: BTreeMap::new(),
            parent,
        });
        self.envs.len() as u32 - 1
    }

    fn lookup_var(&self, mut env: Option<u32>, name: &str) -> Option<&str> {
        while let Some(e) = env {
            let e = &self.envs[e as usize];
            if let Some(v) = e.vars.get(name) {
                return Some(v);
            }
            env = e.parent;
        }
        None
    }

    fn lookup_class(&self, mut ptr: Option<u32>, name: &str) -> Option<&ClassValue> {
        while let Some(p) = ptr {
            let c = &self.classes[p as usize];
            if c.name == name {
                return Some(&c.value);
            }
            ptr = c.prev;
        }
        None
    }

    /// Replaces `$x`, `${x}` and `${x-default}` with their values; unknown parameters stay
    /// as written (elements such as Script use `$` themselves), and single quotes protect.
    fn substitute(&self, text: &str, env: u32) -> String {
        if !text.contains('$') {
            return text.to_string();
        }
        let b = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        let mut copied = 0;
        while i < b.len() {
            match b[i] {
                b'\'' => {
                    i = text[i + 1..].find('\'').map_or(b.len(), |n| i + n + 2);
                }
                b'\\' => i += 2,
                b'$' => {
                    let value = if b.get(i + 1) == Some(&b'{') {
                        text[i..].find('}').map(|n| {
                            // `${a[$n]}`: the inside is expanded first.
                            let inner = self.substitute(&text[i + 2..i + n], env);
                            (self.braced(&inner, env), i + n + 1)
                        })
                    } else {
                        let n = b[i + 1..]
                            .iter()
                            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                            .count();
                        let name = &text[i + 1..i + 1 + n];
                        let v = (!name.is_empty())
                            .then(|| self.lookup_var(Some(env), name).map(String::from))
                            .flatten();
                        Some((v, i + 1 + n))
                    };
                    let end = value.as_ref().map_or(i + 1, |(_, e)| *e);
                    if let Some((Some(v), _)) = value {
                        out.push_str(&text[copied..i]);
                        out.push_str(&v);
                        copied = end;
                    }
                    i = end.max(i + 1);
                }
                _ => i += 1,
            }
        }
        out.push_str(&text[copied.min(text.len())..]);
        out
    }

    /// The value of `${NAME}`, `${NAME[INDEX]}` (the INDEXth space-separated word of the
    /// value, from 0; empty past the last) or `${NAME-DEFAULT}` (DEFAULT when NAME is not
    /// defined), given what is between the braces, already expanded. `None` when NAME is
    /// not defined and there is no default.
    fn braced(&self, inner: &str, env: u32) -> Option<String> {
        let t = inner.trim_start();
        let name_len = t
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        let (name, mut rest) = t.split_at(name_len);
        rest = rest.trim_start();
        let mut index = None;
        if let Some(r) = rest.strip_prefix('[') {
            if let Some((n, after)) = r.split_once(']') {
                if let Ok(n) = n.trim().parse::<usize>() {
                    index = Some(n);
                    rest = after.trim_start();
                }
            }
        }
        let default = rest.strip_prefix('-');
        match self
            .lookup_var(Some(env), name)
            .filter(|_| !name.is_empty())
        {
            Some(v) => Some(match index {
                Some(n) => crate::args::split_words(v).nth(n).unwrap_or("").to_string(),
                None => v.to_string(),
            }),
            None => default.map(String::from),
        }
    }

    fn run(&mut self, params: &[(String, String)]) {
        let cfg = self.cfg;
        let env = self.new_env(None);
        let root_tunnel = self.tunnels.len() as u32;
        self.tunnels.push(Tunnel {
            label: String::new(),
            span: Span::default(),
            ninputs: 0,
            noutputs: 0,
        });
        self.instances.push(Instance {
            name: String::new(),
            class_name: String::new(),
            overloads: Vec::new(),
            config: None,
            span: Span::default(),
            tunnel: root_tunnel,
            items: Vec::new(),
        });
        self.process_scope(0, cfg.root, env, None, Some(params));
        while let Some(inst) = self.work.pop() {
            self.expand_instance(inst);
        }
    }

    /// Chooses an overload for instance `inst` and walks its body.
    fn expand_instance(&mut self, inst: u32) {
        let t = self.instances[inst as usize].tunnel;
        // How the outside uses the instance.
        let (used_in, used_out) = self.tunnel_use.remove(&t).unwrap_or_default();
        let nin = used_in.iter().next_back().map_or(0, |m| m + 1);
        let nout = used_out.iter().next_back().map_or(0, |m| m + 1);
        let (config, config_span) = self.instances[inst as usize]
            .config
            .clone()
            .unwrap_or_default();
        let overloads = core::mem::take(&mut self.instances[inst as usize].overloads);
        let arg_list: Vec<&str> = split_args(&config);
        let mut exact = None;
        let mut loose = None;
        let mut primitive = None;
        for (i, o) in overloads.iter().enumerate() {
            match o {
                Overload::Body { body, .. } => {
                    let b = self.cfg.body(*body);
                    let (bi, bo) = self.body_ports[body.0 as usize].counts();
                    if assign_args(&b.formals, &arg_list).is_ok() {
                        if bi == nin && bo == nout && exact.is_none() {
                            exact = Some(i);
                        }
                        if nin <= bi && nout <= bo && loose.is_none() {
                            loose = Some(i);
                        }
                    }
                }
                Overload::Primitive(_) => {
                    if primitive.is_none() {
                        primitive = Some(i);
                    }
                }
            }
        }
        let span = self.instances[inst as usize].span;
        let chosen =
            exact
                .or(loose)
                .or(primitive)
                .or(if overloads.len() == 1 { Some(0) } else { None });
        let Some(chosen) = chosen else {
            let name = self.instances[inst as usize].class_name.clone();
            let mut msg = format!(
                "no definition of '{name}' fits this use ({} connected, {} connected, {}); the definitions are:",
                plural(nin, "input"),
                plural(nout, "output"),
                plural(arg_list.len(), "argument")
            );
            for o in &overloads {
                if let Overload::Body { body, .. } = o {
                    let b = self.cfg.body(*body);
                    let (bi, bo) = self.body_ports[body.0 as usize].counts();
                    msg.push_str(&format!(
                        " {}({}) with {} and {};",
                        name,
                        formal_list(&b.formals),
                        plural(bi, "input"),
                        plural(bo, "output")
                    ));
                }
            }
            msg.pop();
            self.error(span, msg);
            return;
        };
        match overloads[chosen].clone() {
            Overload::Primitive(class) => {
                // The use falls through to a primitive class: a real element behind the tunnel.
                let name = self.instances[inst as usize].name.clone();
                let idx = self.add_element(RealElement {
                    name,
                    class,
                    config,
                    span,
                    config_span,
                });
                self.instances[inst as usize].items.push(Item::Element(idx));
                for p in used_in {
                    self.edges.push(Edge {
                        from: Target::In(t),
                        from_port: p,
                        to: Target::Real(idx),
                        to_port: p,
                    });
                }
                for p in used_out {
                    self.edges.push(Edge {
                        from: Target::Real(idx),
                        from_port: p,
                        to: Target::Out(t),
                        to_port: p,
                    });
                }
            }
            Overload::Body { body, env, classes } => {
                let b = self.cfg.body(body);
                let (bi, bo) = self.body_ports[body.0 as usize].counts();
                self.tunnels[t as usize].ninputs = bi;
                self.tunnels[t as usize].noutputs = bo;
                let label = self.tunnels[t as usize].label.clone();
                if nin > bi {
                    self.error(span, format!(
                        "{label} has {}, but a connection uses its input [{}]: connect to ports 0 to {} only",
                        plural(bi, "input port"), nin - 1, bi.saturating_sub(1)
                    ));
                }
                if nout > bo {
                    self.error(span, format!(
                        "{label} has {}, but a connection uses its output [{}]: connect from ports 0 to {} only",
                        plural(bo, "output port"), nout - 1, bo.saturating_sub(1)
                    ));
                }
                self.check_body_gaps(body, "compound element", b.span);
                let scope_env = self.new_env(Some(env));
                match assign_args(&b.formals, &arg_list) {
                    Ok(values) => {
                        for (k, v) in values {
                            self.envs[scope_env as usize].vars.insert(k, v);
                        }
                    }
                    Err(msg) => {
                        let cname = self.instances[inst as usize].class_name.clone();
                        let at = if config.is_empty() { span } else { config_span };
                        self.error(at, format!("'{cname}' {msg}"));
                    }
                }
                self.process_scope(inst, body, scope_env, classes, None);
            }
        }
    }

    /// Reports `input [0]` and `input [2]` used without `input [1]`.
    fn check_body_gaps(&mut self, body: BodyId, what: &str, span: Span) {
        let pu = self.body_ports[body.0 as usize].clone();
        let (ni, no) = pu.counts();
        if pu.inputs.len() != ni {
            let missing = (0..ni).find(|p| !pu.inputs.contains(p)).unwrap_or(0);
            self.error(span, format!(
                "this {what} uses 'input [{}]' but not 'input [{missing}]': number its inputs from 0 without gaps",
                ni - 1
            ));
        }
        if pu.outputs.len() != no {
            let missing = (0..no).find(|p| !pu.outputs.contains(p)).unwrap_or(0);
            self.error(span, format!(
                "this {what} uses 'output [{}]' but not 'output [{missing}]': number its outputs from 0 without gaps",
                no - 1
            ));
        }
    }

    fn add_element(&mut self, e: RealElement) -> u32 {
        self.elements.push(e);
        self.elements.len() as u32 - 1
    }

    fn capacity_ok(&mut self, span: Span) -> bool {
        if self.elements.len() + self.instances.len() >= MAX_ELEMENTS {
            if !self.too_big {
                self.too_big = true;
                self.error(span, format!(
                    "the configuration expands to more than {MAX_ELEMENTS} elements; check for compound elements that use each other many times"
                ));
            }
            return false;
        }
        true
    }

    /// Walks one scope: the file, or one expanded compound instance.
    fn process_scope(
        &mut self,
        inst: u32,
        body: BodyId,
        env: u32,
        classes: Option<u32>,
        params: Option<&[(String, String)]>,
    ) {
        let cfg = self.cfg;
        let prefix = match inst {
            0 => String::new(),
            _ => format!("{}/", self.instances[inst as usize].name),
        };
        let mut scope = Scope {
            inst,
            prefix,
            env,
            classes,
            slots: BTreeMap::new(),
            slot_values: Vec::new(),
            used_names: BTreeSet::new(),
            count: 0,
            pending: Vec::new(),
            groups: Vec::new(),
            children: Vec::new(),
        };
        self.prepass(&mut scope, body, params);
        let tunnel = if inst == 0 {
            None
        } else {
            Some(self.instances[inst as usize].tunnel)
        };
        let mut stack = vec![Frame::Body {
            body,
            next: 0,
            tunnel,
        }];
        while let Some(frame) = stack.pop() {
            match frame {
                Frame::Body {
                    body: b,
                    next,
                    tunnel,
                } => {
                    let stmts = &cfg.body(b).stmts;
                    let Some(stmt) = stmts.get(next) else {
                        continue;
                    };
                    stack.push(Frame::Body {
                        body: b,
                        next: next + 1,
                        tunnel,
                    });
                    match stmt {
                        Stmt::Declaration(d) => {
                            for name in &d.names {
                                if scope.is_filled(&name.name) {
                                    // A second declaration of the name: already reported.
                                    scope.count += 1;
                                    continue;
                                }
                                if let Some(r) =
                                    self.declare(&mut scope, name, &d.class, d.config.as_ref())
                                {
                                    if let Some(&slot) = scope.slots.get(&name.name) {
                                        scope.slot_values[slot as usize] = Some(r);
                                    }
                                }
                            }
                        }
                        Stmt::Connection(c) => {
                            let resolved = c
                                .sections
                                .iter()
                                .map(|s| Vec::with_capacity(s.len()))
                                .collect();
                            stack.push(Frame::Conn {
                                body: b,
                                stmt: next,
                                tunnel,
                                sec: 0,
                                el: 0,
                                resolved,
                            });
                        }
                        Stmt::ElementClass(ec) => self.define_class(&mut scope, ec),
                        Stmt::Require(r) => {
                            for a in args::split(&r.config.text, r.config.span) {
                                let text = args::strip_comments(a.text);
                                let text = text.trim();
                                // A library is read in where it is required (see
                                // `library`): the flat graph holds what it defines.
                                let library = crate::library::library_word(text).is_some();
                                if !text.is_empty()
                                    && !r.provide
                                    && !library
                                    && !self.requirements.iter().any(|x| x == text)
                                {
                                    self.requirements.push(text.to_string());
                                }
                            }
                        }
                        Stmt::Define(_) => {}
                    }
                }
                Frame::Conn {
                    body: b,
                    stmt,
                    tunnel,
                    mut sec,
                    mut el,
                    mut resolved,
                } => {
                    let Stmt::Connection(c) = &cfg.body(b).stmts[stmt] else {
                        continue;
                    };
                    let mut nested = None;
                    while sec < c.sections.len() {
                        if el >= c.sections[sec].len() {
                            sec += 1;
                            el = 0;
                            continue;
                        }
                        let e = &c.sections[sec][el];
                        el += 1;
                        let r = self.resolve(&mut scope, e, tunnel);
                        resolved[sec].push(r);
                        if let ElementRef::Group(g) = e.reference {
                            if let Some(Resolved {
                                src: Endpoint::Target(Target::Out(t)),
                                ..
                            }) = r
                            {
                                nested = Some((g, t));
                                break;
                            }
                        }
                    }
                    if let Some((g, t)) = nested {
                        stack.push(Frame::Conn {
                            body: b,
                            stmt,
                            tunnel,
                            sec,
                            el,
                            resolved,
                        });
                        stack.push(Frame::Body {
                            body: g,
                            next: 0,
                            tunnel: Some(t),
                        });
                    } else {
                        self.connect(&mut scope, c, &resolved);
                    }
                }
            }
        }
        self.finish_scope(scope);
    }

    /// Collects the names declared in a scope (including inside its groups) and its
    /// parameter definitions.
    fn prepass(&mut self, scope: &mut Scope, body: BodyId, params: Option<&[(String, String)]>) {
        let cfg = self.cfg;
        let mut stack = vec![body];
        let mut defined: BTreeMap<String, Span> = BTreeMap::new();
        let mut defines: Vec<(String, String)> = Vec::new();
        let declare = |f: &mut Self, scope: &mut Scope, n: &Ident| {
            if PSEUDO_NAMES.contains(&n.name.as_str()) {
                f.error(n.span, format!(
                    "'{}' cannot be declared: inside compound elements and groups it names the connections to the outside; pick another name",
                    n.name
                ));
                return;
            }
            if scope.slots.contains_key(&n.name) {
                f.error(n.span, format!(
                    "element '{}' is declared twice in the same scope: rename one of them, or remove the second declaration",
                    n.name
                ));
                return;
            }
            scope
                .slots
                .insert(n.name.clone(), scope.slot_values.len() as u32);
            scope.slot_values.push(None);
            scope.used_names.insert(n.name.clone());
        };
        while let Some(b) = stack.pop() {
            // Reverse order so declarations are collected in source order.
            let mut groups = Vec::new();
            for stmt in &cfg.body(b).stmts {
                match stmt {
                    Stmt::Declaration(d) => {
                        for n in &d.names {
                            declare(self, scope, n);
                        }
                    }
                    Stmt::Connection(c) => {
                        for e in c.sections.iter().flatten() {
                            match &e.reference {
                                ElementRef::Declare { name, .. } => declare(self, scope, name),
                                ElementRef::Group(g) => groups.push(*g),
                                _ => {}
                            }
                        }
                    }
                    Stmt::Define(d) => {
                        for entry in &d.entries {
                            if defined
                                .insert(entry.name.name.clone(), entry.name.span)
                                .is_some()
                            {
                                self.error(entry.name.span, format!(
                                    "parameter '${}' is defined twice in this scope: remove one definition",
                                    entry.name.name
                                ));
                            }
                            let value = self.substitute(&entry.value, scope.env);
                            defines.push((entry.name.name.clone(), value));
                        }
                    }
                    _ => {}
                }
            }
            stack.extend(groups.into_iter().rev());
        }
        let vars = &mut self.envs[scope.env as usize].vars;
        for (k, v) in defines {
            vars.insert(k, v);
        }
        for (k, v) in params.unwrap_or(&[]) {
            let k = k.strip_prefix('$').unwrap_or(k);
            vars.insert(k.to_string(), v.clone());
        }
    }

    fn define_class(&mut self, scope: &mut Scope, ec: &ElementClass) {
        let value = match &ec.class {
            ClassRef::Named(other) => match self.lookup_class(scope.classes, &other.name) {
                Some(v) => v.clone(),
                None => ClassValue::Primitive(other.name.clone()),
            },
            ClassRef::Compound(cid) => {
                let c = self.cfg.compound(*cid);
                let mut overloads: Vec<Overload> = c
                    .overloads
                    .iter()
                    .map(|&body| Overload::Body {
                        body,
                        env: scope.env,
                        classes: scope.classes,
                    })
                    .collect();
                if c.extends_previous {
                    match self.lookup_class(scope.classes, &ec.name.name) {
                        Some(ClassValue::Compound(prev)) => overloads.extend(prev.iter().cloned()),
                        Some(ClassValue::Primitive(p)) => {
                            overloads.push(Overload::Primitive(p.clone()))
                        }
                        None => overloads.push(Overload::Primitive(ec.name.name.clone())),
                    }
                }
                ClassValue::Compound(overloads)
            }
        };
        self.classes.push(ClassEntry {
            name: ec.name.name.clone(),
            value,
            prev: scope.classes,
        });
        scope.classes = Some(self.classes.len() as u32 - 1);
    }

    fn anon_name(&self, scope: &mut Scope, class: &str) -> String {
        let mut n = scope.count;
        loop {
            let name = format!("{class}@{n}");
            if !scope.used_names.contains(&name) {
                scope.used_names.insert(name.clone());
                return name;
            }
            n += 1;
        }
    }

    /// Creates an element (primitive or compound instance) called `local` in `scope`.
    fn create(
        &mut self,
        scope: &mut Scope,
        local: String,
        class: &ClassRef,
        config: Option<&ConfigString>,
        span: Span,
    ) -> Option<Resolved> {
        if !self.capacity_ok(span) {
            return None;
        }
        let name = format!("{}{local}", scope.prefix);
        let (config_text, config_span) = match config {
            Some(c) => (self.substitute(&c.text, scope.env), c.span),
            None => (
                String::new(),
                Span {
                    file: span.file,
                    start: span.end,
                    end: span.end,
                },
            ),
        };
        let (class_name, value) = match class {
            ClassRef::Named(n) => {
                let v = self
                    .lookup_class(scope.classes, &n.name)
                    .cloned()
                    .unwrap_or_else(|| ClassValue::Primitive(n.name.clone()));
                (n.name.clone(), v)
            }
            ClassRef::Compound(cid) => {
                let c = self.cfg.compound(*cid);
                let overloads = c
                    .overloads
                    .iter()
                    .map(|&body| Overload::Body {
                        body,
                        env: scope.env,
                        classes: scope.classes,
                    })
                    .collect();
                (String::new(), ClassValue::Compound(overloads))
            }
        };
        match value {
            ClassValue::Primitive(class) => {
                let idx = self.add_element(RealElement {
                    name,
                    class,
                    config: config_text,
                    span,
                    config_span,
                });
                self.instances[scope.inst as usize]
                    .items
                    .push(Item::Element(idx));
                let t = Endpoint::Target(Target::Real(idx));
                Some(Resolved {
                    src: t,
                    dst: t,
                    group: None,
                })
            }
            ClassValue::Compound(overloads) => {
                let t = self.tunnels.len() as u32;
                let label = if class_name.is_empty() {
                    format!("compound element '{name}'")
                } else {
                    format!("'{name}' (compound class {class_name})")
                };
                self.tunnels.push(Tunnel {
                    label,
                    span,
                    ninputs: 0,
                    noutputs: 0,
                });
                let inst = self.instances.len() as u32;
                let display = if class_name.is_empty() {
                    "{...}".to_string()
                } else {
                    class_name
                };
                self.instances.push(Instance {
                    name,
                    class_name: display,
                    overloads,
                    config: Some((config_text, config_span)),
                    span,
                    tunnel: t,
                    items: Vec::new(),
                });
                self.instances[scope.inst as usize]
                    .items
                    .push(Item::Instance(inst));
                scope.children.push(inst);
                Some(Resolved {
                    src: Endpoint::Target(Target::Out(t)),
                    dst: Endpoint::Target(Target::In(t)),
                    group: None,
                })
            }
        }
    }

    fn declare(
        &mut self,
        scope: &mut Scope,
        name: &Ident,
        class: &ClassRef,
        config: Option<&ConfigString>,
    ) -> Option<Resolved> {
        scope.count += 1;
        if PSEUDO_NAMES.contains(&name.name.as_str()) {
            return None;
        }
        self.create(scope, name.name.clone(), class, config, name.span)
    }

    fn anonymous(
        &mut self,
        scope: &mut Scope,
        class: &ClassRef,
        config: Option<&ConfigString>,
        span: Span,
    ) -> Option<Resolved> {
        scope.count += 1;
        let class_name = match class {
            ClassRef::Named(n) => n.name.as_str(),
            ClassRef::Compound(_) => "",
        };
        let local = self.anon_name(scope, class_name);
        self.create(scope, local, class, config, span)
    }

    fn pseudo(&mut self, p: Pseudo, tunnel: Option<u32>, span: Span) -> Option<Resolved> {
        let Some(t) = tunnel else {
            let which = if p == Pseudo::Input {
                "input"
            } else {
                "output"
            };
            self.error(span, format!(
                "'{which}' only exists inside a compound element or an element group; at the top level, connect to a real element"
            ));
            return None;
        };
        Some(match p {
            Pseudo::Input => Resolved {
                src: Endpoint::Target(Target::In(t)),
                dst: Endpoint::Misuse,
                group: None,
            },
            Pseudo::Output => Resolved {
                src: Endpoint::Misuse,
                dst: Endpoint::Target(Target::Out(t)),
                group: None,
            },
        })
    }

    /// What one element of a connection refers to, creating it if it is new.
    fn resolve(&mut self, scope: &mut Scope, e: &Element, tunnel: Option<u32>) -> Option<Resolved> {
        match &e.reference {
            ElementRef::Implicit(p) => self.pseudo(*p, tunnel, e.span),
            ElementRef::Name(n) if n.name == "input" => self.pseudo(Pseudo::Input, tunnel, n.span),
            ElementRef::Name(n) if n.name == "output" => {
                self.pseudo(Pseudo::Output, tunnel, n.span)
            }
            ElementRef::Name(n) => {
                if let Some(&slot) = scope.slots.get(&n.name) {
                    if !scope.is_filled(&n.name) {
                        // Click reads a configuration top to bottom: a name is an element
                        // only once its declaration has been read.
                        self.error(
                            n.span,
                            format!(
                                "undeclared element '{}': it is declared further down; \
                                 declare it before connecting it, as Click requires",
                                n.name
                            ),
                        );
                    }
                    let s = Endpoint::Slot(slot);
                    return Some(Resolved {
                        src: s,
                        dst: s,
                        group: None,
                    });
                }
                // Not an element of this scope: an anonymous element of that class.
                let class = ClassRef::Named(n.clone());
                self.anonymous(scope, &class, None, n.span)
            }
            ElementRef::Declare {
                name,
                class,
                config,
            } => {
                if scope.is_filled(&name.name) {
                    // A second declaration of the name: already reported.
                    scope.count += 1;
                    let slot = Endpoint::Slot(scope.slots[&name.name]);
                    return Some(Resolved {
                        src: slot,
                        dst: slot,
                        group: None,
                    });
                }
                let r = self.declare(scope, name, class, config.as_ref());
                if let (Some(r), Some(&slot)) = (r, scope.slots.get(&name.name)) {
                    scope.slot_values[slot as usize] = Some(r);
                    return Some(Resolved {
                        src: Endpoint::Slot(slot),
                        dst: Endpoint::Slot(slot),
                        group: None,
                    });
                }
                r
            }
            ElementRef::Anonymous { class, config } => {
                let span = match class {
                    ClassRef::Named(n) => n.span,
                    ClassRef::Compound(_) => e.span,
                };
                self.anonymous(scope, class, config.as_ref(), span)
            }
            ElementRef::Group(g) => {
                // Click numbers a group like three elements (itself, its input and output).
                scope.count += 3;
                let (ni, no) = self.body_ports[g.0 as usize].counts();
                let t = self.tunnels.len() as u32;
                self.tunnels.push(Tunnel {
                    label: "the element group".to_string(),
                    span: e.span,
                    ninputs: ni,
                    noutputs: no,
                });
                scope.groups.push(t);
                let span = self.cfg.body(*g).span;
                self.check_body_gaps(*g, "element group", span);
                Some(Resolved {
                    src: Endpoint::Target(Target::Out(t)),
                    dst: Endpoint::Target(Target::In(t)),
                    group: Some((ni, no)),
                })
            }
        }
    }

    /// Turns one connection statement into pending edges.
    fn connect(&mut self, scope: &mut Scope, c: &Connection, resolved: &[Vec<Option<Resolved>>]) {
        let info = |s: usize, k: usize| resolved.get(s)?.get(k).copied().flatten()?.group;
        let mut pairs = Vec::new();
        let mut errors = Vec::new();
        expand_connection(
            c,
            &info,
            &mut |l, lp, r, rp| pairs.push((l, lp, r, rp)),
            &mut |span, msg| errors.push((span, msg)),
        );
        for (span, msg) in errors {
            self.error(span, msg);
        }
        for ((ls, li), lp, (rs, ri), rp) in pairs {
            let (Some(Some(l)), Some(Some(r))) = (resolved[ls].get(li), resolved[rs].get(ri))
            else {
                continue;
            };
            let span = c.sections[ls][li].span.to(c.sections[rs][ri].span);
            let (from, to) = (l.src, r.dst);
            if let Endpoint::Misuse = from {
                let e = &c.sections[ls][li];
                self.error(e.span, "'output' cannot send packets: inside a compound or group, write '... -> output', never 'output -> ...'");
                continue;
            }
            if let Endpoint::Misuse = to {
                let e = &c.sections[rs][ri];
                self.error(e.span, "'input' cannot receive packets: inside a compound or group, write 'input -> ...', never '... -> input'");
                continue;
            }
            scope.pending.push(PendingEdge {
                from,
                from_port: lp,
                to,
                to_port: rp,
                span,
            });
        }
    }

    fn finish_scope(&mut self, scope: Scope) {
        let target = |e: Endpoint| -> Option<Target> {
            match e {
                Endpoint::Target(t) => Some(t),
                Endpoint::Slot(s) => {
                    match scope.slot_values.get(s as usize).copied().flatten()?.src {
                        Endpoint::Target(t) => Some(t),
                        _ => None,
                    }
                }
                Endpoint::Misuse => None,
            }
        };
        let dst_target = |e: Endpoint| -> Option<Target> {
            match e {
                Endpoint::Slot(s) => {
                    match scope.slot_values.get(s as usize).copied().flatten()?.dst {
                        Endpoint::Target(t) => Some(t),
                        _ => None,
                    }
                }
                other => target(other),
            }
        };
        let mut group_use: BTreeMap<u32, (BTreeSet<usize>, BTreeSet<usize>, Span)> =
            BTreeMap::new();
        for pe in &scope.pending {
            let (Some(from), Some(to)) = (target(pe.from), dst_target(pe.to)) else {
                continue;
            };
            if let Target::Out(t) = from {
                if scope.groups.contains(&t) {
                    group_use
                        .entry(t)
                        .or_insert_with(|| (BTreeSet::new(), BTreeSet::new(), pe.span))
                        .1
                        .insert(pe.from_port);
                }
            }
            if let Target::In(t) = to {
                if scope.groups.contains(&t) {
                    group_use
                        .entry(t)
                        .or_insert_with(|| (BTreeSet::new(), BTreeSet::new(), pe.span))
                        .0
                        .insert(pe.to_port);
                }
            }
            if let Target::In(t) = to {
                self.tunnel_use.entry(t).or_default().0.insert(pe.to_port);
            }
            if let Target::Out(t) = from {
                self.tunnel_use.entry(t).or_default().1.insert(pe.from_port);
            }
            self.edges.push(Edge {
                from,
                from_port: pe.from_port,
                to,
                to_port: pe.to_port,
            });
        }
        // Element groups: every port connected, none beyond what the group has.
        for &g in &scope.groups {
            let tunnel = &self.tunnels[g as usize];
            let (ni, no, span) = (tunnel.ninputs, tunnel.noutputs, tunnel.span);
            let (ins, outs) = match group_use.get(&g) {
                Some((i, o, _)) => (i.clone(), o.clone()),
                None => (BTreeSet::new(), BTreeSet::new()),
            };
            if let Some(&p) = ins.iter().find(|&&p| p >= ni) {
                self.error(
                    span,
                    format!(
                        "the element group has {}, but a connection uses its input [{p}]",
                        plural(ni, "input port")
                    ),
                );
            } else if let Some(p) = (0..ni).find(|p| !ins.contains(p)) {
                self.error(span, format!("input [{p}] of the element group is not connected from outside: connect it or remove it from the group"));
            }
            if let Some(&p) = outs.iter().find(|&&p| p >= no) {
                self.error(
                    span,
                    format!(
                        "the element group has {}, but a connection uses its output [{p}]",
                        plural(no, "output port")
                    ),
                );
            } else if let Some(p) = (0..no).find(|p| !outs.contains(p)) {
                self.error(span, format!("output [{p}] of the element group is not connected to anything outside: connect it or remove it from the group"));
            }
        }
        // Children are expanded after this scope; pushed in reverse so they pop in order.
        self.work.extend(scope.children.into_iter().rev());
    }

    fn finish(mut self) -> (FlatGraph, Vec<Diagnostic>) {
        // Element order, Click's: a body's own elements in source order, then the bodies
        // of its compounds, each the same way. (Click appends the elements of a compound
        // to its list when it expands it, and expands a body's compounds after copying it.)
        let mut order: Vec<u32> = Vec::with_capacity(self.elements.len());
        let own_elements = |inst: u32, order: &mut Vec<u32>| {
            order.extend(self.instances[inst as usize].items.iter().filter_map(
                |item| match *item {
                    Item::Element(e) => Some(e),
                    Item::Instance(_) => None,
                },
            ));
        };
        own_elements(0, &mut order);
        let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
        while let Some(&(inst, i)) = stack.last() {
            let items = &self.instances[inst as usize].items;
            let next = items[i..]
                .iter()
                .enumerate()
                .find_map(|(k, item)| match *item {
                    Item::Instance(c) => Some((i + k, c)),
                    Item::Element(_) => None,
                });
            match next {
                Some((at, child)) => {
                    *stack.last_mut().expect("not empty") = (inst, at + 1);
                    own_elements(child, &mut order);
                    stack.push((child, 0));
                }
                None => {
                    stack.pop();
                }
            }
        }
        let mut index = vec![usize::MAX; self.elements.len()];
        for (new, &old) in order.iter().enumerate() {
            index[old as usize] = new;
        }
        // Follow every connection out of a real element through the tunnels.
        let mut by_from: BTreeMap<(Target, usize), Vec<u32>> = BTreeMap::new();
        for (i, e) in self.edges.iter().enumerate() {
            if !matches!(e.from, Target::Real(_)) {
                by_from
                    .entry((e.from, e.from_port))
                    .or_default()
                    .push(i as u32);
            }
        }
        let mut seen = BTreeSet::new();
        let mut connections = Vec::new();
        for e in &self.edges {
            let Target::Real(from) = e.from else { continue };
            let mut visited = BTreeSet::new();
            let mut todo = vec![(e.to, e.to_port)];
            while let Some((to, port)) = todo.pop() {
                match to {
                    Target::Real(to) => {
                        let c = FlatConnection {
                            from: index[from as usize],
                            from_port: e.from_port,
                            to: index[to as usize],
                            to_port: port,
                        };
                        if c.from != usize::MAX && c.to != usize::MAX && seen.insert(c) {
                            connections.push(c);
                        }
                    }
                    tunnel => {
                        if !visited.insert((tunnel, port)) {
                            continue;
                        }
                        if let Some(next) = by_from.get(&(tunnel, port)) {
                            for &n in next.iter().rev() {
                                let n = &self.edges[n as usize];
                                todo.push((n.to, n.to_port));
                            }
                        }
                    }
                }
            }
        }
        let mut slots: Vec<Option<RealElement>> = self.elements.into_iter().map(Some).collect();
        let elements = order
            .iter()
            .filter_map(|&i| slots[i as usize].take())
            .map(|e| FlatElement {
                name: e.name,
                class: e.class,
                config: e.config,
                span: e.span,
                config_span: e.config_span,
            })
            .collect();
        // A compound definition used many times reports its own problems once.
        let mut seen_diag = BTreeSet::new();
        self.diags.retain(|d| {
            seen_diag.insert((d.span.file, d.span.start, d.span.end, d.message.clone()))
        });
        (
            FlatGraph {
                elements,
                connections,
                requirements: self.requirements,
            },
            self.diags,
        )
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn formal_list(formals: &[Formal]) -> String {
    let mut s = String::new();
    for (i, f) in formals.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        if let Some(k) = &f.keyword {
            s.push_str(&k.name);
            s.push(' ');
        }
        s.push('$');
        s.push_str(&f.variable.name);
    }
    s
}

/// A compound's configuration split into trimmed arguments (comments removed, a trailing
/// empty argument dropped).
fn split_args(config: &str) -> Vec<&str> {
    args::split(config, Span::default())
        .into_iter()
        .map(|a| a.text)
        .collect()
}

/// Matches arguments to a compound's formal parameters, Click style: keyword parameters by
/// their keyword, positional ones in order, anything left to `__REST__`.
fn assign_args(formals: &[Formal], list: &[&str]) -> Result<Vec<(String, String)>, String> {
    let mut values: Vec<(String, String)> = Vec::new();
    let positional: Vec<&Formal> = formals.iter().filter(|f| f.keyword.is_none()).collect();
    let rest = formals
        .iter()
        .find(|f| f.keyword.as_ref().is_some_and(|k| k.name == "__REST__"));
    let keywords: Vec<&Formal> = formals
        .iter()
        .filter(|f| f.keyword.as_ref().is_some_and(|k| k.name != "__REST__"))
        .collect();
    let mut kw_values: Vec<Option<String>> = vec![None; keywords.len()];
    let mut next = 0;
    let mut rest_values: Vec<&str> = Vec::new();
    for &arg in list {
        let word_end = arg.find(|c: char| c.is_whitespace()).unwrap_or(arg.len());
        let word = &arg[..word_end];
        if let Some(k) = keywords
            .iter()
            .position(|f| f.keyword.as_ref().is_some_and(|k| k.name == word))
        {
            kw_values[k] = Some(arg[word_end..].trim().to_string());
        } else if next < positional.len() {
            values.push((positional[next].variable.name.clone(), arg.to_string()));
            next += 1;
        } else if rest.is_some() {
            rest_values.push(arg);
        } else {
            let want = positional.len();
            return Err(format!(
                "takes {} ({}), but {} given: remove the extra arguments",
                plural(want, "positional argument"),
                formal_list(formals),
                if list.len() == 1 {
                    "1 was".to_string()
                } else {
                    format!("{} were", list.len())
                }
            ));
        }
    }
    if next < positional.len() {
        let missing: Vec<String> = positional[next..]
            .iter()
            .map(|f| format!("${}", f.variable.name))
            .collect();
        return Err(format!(
            "needs a value for {} ({} given): add the missing arguments",
            missing.join(", "),
            plural(next, "positional argument")
        ));
    }
    for (f, v) in keywords.iter().zip(kw_values) {
        match v {
            Some(v) => values.push((f.variable.name.clone(), v)),
            None => {
                let k = f.keyword.as_ref().map_or("", |k| k.name.as_str());
                return Err(format!(
                    "needs the {k} argument: add '{k} value' to its arguments"
                ));
            }
        }
    }
    if let Some(r) = rest {
        values.push((r.variable.name.clone(), rest_values.join(", ")));
    }
    Ok(values)
}

/// Expands one connection statement into port-to-port pairs, Click 2.1 style: `->` joins
/// one output to many inputs or many outputs to one input; `=>` joins them pairwise, and a
/// lone element without ports on one side offers ports 0, 1, 2, ... Element groups offer all
/// their ports by default. `group(section, index)` gives `(inputs, outputs)` for an element
/// that is a group. Elements are named by `(section, index)` in `emit`.
fn expand_connection(
    c: &Connection,
    group: &dyn Fn(usize, usize) -> Option<(usize, usize)>,
    emit: &mut dyn FnMut((usize, usize), usize, (usize, usize), usize),
    error: &mut dyn FnMut(Span, String),
) {
    for (i, arrow) in c.arrows.iter().enumerate() {
        let (Some(left), Some(right)) = (c.sections.get(i), c.sections.get(i + 1)) else {
            return;
        };
        let side = |s: usize, sec: &[Element], output: bool| -> Vec<((usize, usize), usize)> {
            let mut v = Vec::new();
            for (k, e) in sec.iter().enumerate() {
                let explicit = if output { &e.out_ports } else { &e.in_ports };
                match (explicit, group(s, k)) {
                    (Some(p), _) => v.extend(p.ports.iter().map(|&p| ((s, k), p))),
                    (None, Some((ni, no))) => {
                        v.extend((0..if output { no } else { ni }).map(|p| ((s, k), p)))
                    }
                    (None, None) => v.push(((s, k), 0)),
                }
            }
            v
        };
        let lone = |s: usize, sec: &[Element], output: bool| {
            sec.len() == 1 && {
                let e = &sec[0];
                let explicit = if output { &e.out_ports } else { &e.in_ports };
                explicit.is_none() && group(s, 0).is_none()
            }
        };
        let mut outs = side(i, left, true);
        let mut ins = side(i + 1, right, false);
        match arrow.kind {
            ArrowKind::Arrow => {
                if outs.len() > 1 && ins.len() > 1 {
                    error(arrow.span, format!(
                        "'->' cannot join {} outputs to {} inputs; use '=>' to connect them pairwise, or write separate connections",
                        outs.len(),
                        ins.len()
                    ));
                    continue;
                }
                for &(l, lp) in &outs {
                    for &(r, rp) in &ins {
                        emit(l, lp, r, rp);
                    }
                }
            }
            ArrowKind::ManyToMany => {
                let (lone_l, lone_r) = (lone(i, left, true), lone(i + 1, right, false));
                if lone_l && !lone_r {
                    outs = (0..ins.len()).map(|p| ((i, 0), p)).collect();
                } else if lone_r && !lone_l {
                    ins = (0..outs.len()).map(|p| ((i + 1, 0), p)).collect();
                }
                if outs.len() != ins.len() {
                    error(arrow.span, format!(
                        "'=>' needs as many outputs on its left as inputs on its right, but there are {} and {}",
                        outs.len(),
                        ins.len()
                    ));
                    continue;
                }
                for (&(l, lp), &(r, rp)) in outs.iter().zip(&ins) {
                    emit(l, lp, r, rp);
                }
            }
        }
    }
}
