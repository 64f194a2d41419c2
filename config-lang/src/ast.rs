//! The syntax tree of a Click configuration, every node with its [`Span`].
//!
//! Nested bodies (compound element classes `{ ... }` and element groups `( ... )`) are not
//! boxed inside their parents: they live in one arena, [`Config::bodies`], and are referred to
//! by [`BodyId`]. A deeply nested configuration therefore builds, clones, compares and drops
//! without recursion. A body's id is always larger than the ids of the bodies nested in it
//! (bodies are stored in the order they close), and the root body comes last.

use alloc::string::String;
use alloc::vec::Vec;

use crate::span::Span;

/// Index of a [`Body`] in [`Config::bodies`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BodyId(pub u32);

/// Index of a [`Compound`] in [`Config::compounds`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CompoundId(pub u32);

/// A parsed configuration file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The file index its spans refer to.
    pub file: u16,
    /// Every body: the file itself ([`Config::root`]), compound bodies and element groups.
    pub bodies: Vec<Body>,
    /// Every compound element class written with braces.
    pub compounds: Vec<Compound>,
    /// The file's top-level body.
    pub root: BodyId,
}

impl Config {
    /// The body with id `id`.
    pub fn body(&self, id: BodyId) -> &Body {
        &self.bodies[id.0 as usize]
    }

    /// The compound with id `id`.
    pub fn compound(&self, id: CompoundId) -> &Compound {
        &self.compounds[id.0 as usize]
    }
}

/// What kind of body a [`Body`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// The whole file.
    Root,
    /// One definition of a compound element class, `{ $a | ... }`: a new scope.
    Compound,
    /// An element group `( ... )` inside a connection: no new scope.
    Group,
}

/// A sequence of statements: the file, one compound definition, or an element group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    /// Which kind.
    pub kind: BodyKind,
    /// Formal parameters (`$a, KEY $k, __REST__ $r |`), compound bodies only.
    pub formals: Vec<Formal>,
    /// The statements, in order.
    pub stmts: Vec<Stmt>,
    /// From the opening to the closing delimiter (the whole text for the root).
    pub span: Span,
}

/// One formal parameter of a compound element class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formal {
    /// `KEY` in `KEY $k`, or `None` for a positional parameter. `__REST__` collects the
    /// arguments no other parameter takes.
    pub keyword: Option<Ident>,
    /// The variable, without its `$`.
    pub variable: Ident,
    /// The whole formal.
    pub span: Span,
}

/// A compound element class: one or more overloaded bodies separated by `||`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compound {
    /// The definitions, in order (the first that matches a use is chosen).
    pub overloads: Vec<BodyId>,
    /// Ended with `|| ...`: the previous definition of the same name adds its overloads.
    pub extends_previous: bool,
    /// From `{` to `}`.
    pub span: Span,
}

/// A name as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where.
    pub span: Span,
}

/// A configuration string (the text between parentheses), verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigString {
    /// The text, without the parentheses.
    pub text: String,
    /// The text's span (inside the parentheses).
    pub span: Span,
}

/// A class in a declaration: a name or an inline compound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassRef {
    /// A primitive class, an `elementclass` or a synonym, by name.
    Named(Ident),
    /// An inline compound `{ ... }`.
    Compound(CompoundId),
}

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    /// `a, b :: Class(config)` on its own.
    Declaration(Declaration),
    /// A connection chain (possibly a single element, such as `Idle;`).
    Connection(Connection),
    /// `elementclass Name { ... }` or `elementclass Name Other;`.
    ElementClass(ElementClass),
    /// `require(...)` or `provide(...)`.
    Require(Require),
    /// `define($X value, ...)`.
    Define(Define),
}

/// A standalone declaration of one or more elements of the same class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declaration {
    /// The declared names.
    pub names: Vec<Ident>,
    /// Their class.
    pub class: ClassRef,
    /// Their configuration.
    pub config: Option<ConfigString>,
    /// The whole statement.
    pub span: Span,
}

/// Which arrow joins two sections of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrowKind {
    /// `->`: one-to-one, many-to-one or one-to-many.
    Arrow,
    /// `=>`: many-to-many, pairwise.
    ManyToMany,
}

/// An arrow and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrow {
    /// Which arrow.
    pub kind: ArrowKind,
    /// Where.
    pub span: Span,
}

/// A connection chain: `sections[0] arrows[0] sections[1] arrows[1] ...`. Each section is a
/// comma-separated list of elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// One more section than arrows.
    pub sections: Vec<Vec<Element>>,
    /// The arrows between sections.
    pub arrows: Vec<Arrow>,
    /// The whole statement.
    pub span: Span,
}

/// A port list `[0]`, `[0, 1]` or `[]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortList {
    /// The port numbers.
    pub ports: Vec<usize>,
    /// From `[` to `]`.
    pub span: Span,
}

/// Which pseudo-element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pseudo {
    /// `input`: the connections coming into the enclosing compound or group.
    Input,
    /// `output`: the connections leaving it.
    Output,
}

/// What an element in a connection refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElementRef {
    /// A bare name: a declared element, or (if none has this name) an anonymous element of
    /// the class with this name. `input` and `output` are written this way too.
    Name(Ident),
    /// `name :: Class(config)` inside a connection.
    Declare {
        /// The new element's name.
        name: Ident,
        /// Its class.
        class: ClassRef,
        /// Its configuration.
        config: Option<ConfigString>,
    },
    /// `Class(config)` or `{ ... }(config)`: an anonymous element.
    Anonymous {
        /// Its class.
        class: ClassRef,
        /// Its configuration.
        config: Option<ConfigString>,
    },
    /// An element group `( ... )`.
    Group(BodyId),
    /// `input` or `output` left out at the start or end of a connection (`[0] -> x`).
    Implicit(Pseudo),
}

/// One element in a connection, with its optional input and output ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    /// `[1] x`: the input ports.
    pub in_ports: Option<PortList>,
    /// The element.
    pub reference: ElementRef,
    /// `x [1]`: the output ports.
    pub out_ports: Option<PortList>,
    /// The whole element, ports included.
    pub span: Span,
}

/// `elementclass Name { ... }` or the synonym form `elementclass Name Other`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElementClass {
    /// The new class name.
    pub name: Ident,
    /// Its definition.
    pub class: ClassRef,
    /// The whole statement.
    pub span: Span,
}

/// `require(...)` (or `provide(...)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Require {
    /// The arguments, verbatim.
    pub config: ConfigString,
    /// `provide` rather than `require`.
    pub provide: bool,
    /// The whole statement.
    pub span: Span,
}

/// `define($X value, $Y value)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Define {
    /// The definitions.
    pub entries: Vec<DefineEntry>,
    /// The whole statement.
    pub span: Span,
}

/// One `$NAME value` pair of a `define`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DefineEntry {
    /// The parameter name, without `$`.
    pub name: Ident,
    /// The value, verbatim.
    pub value: String,
    /// The pair.
    pub span: Span,
}
