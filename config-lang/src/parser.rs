//! The Click parser: tokens to [`ast::Config`].
//!
//! The parser never recurses. Nested bodies (compounds `{ ... }`, groups `( ... )`) push a
//! [`Level`] on an explicit stack that remembers what the enclosing statement was doing (an
//! `elementclass` statement, or a connection halfway through an element); when the body
//! closes, the level is popped and that statement resumes. Nesting depth is limited only by
//! memory.
//!
//! After a syntax error the parser skips to the next statement boundary (a `;`, a closing
//! brace or parenthesis, or a name at the start of a line) and carries on, so one run reports
//! every error it can.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::args;
use crate::ast::*;
use crate::lexer::{ConfigScan, Lexer, Token, TokenKind};
use crate::span::{Diagnostic, Span};

/// The largest port number accepted. Real elements have a handful of ports; the limit keeps
/// a typo such as `[10000000]` from making later passes allocate for millions of ports.
pub const MAX_PORT: usize = 65_535;

/// Parses `text` (file index `file`). Returns the tree, built as far as possible, and every
/// syntax error found.
pub fn parse_text(text: &str, file: u16) -> (Config, Vec<Diagnostic>) {
    let mut p = Parser::new(text, file);
    p.run();
    let root = BodyId(p.bodies.len() as u32 - 1);
    let cfg = Config {
        file,
        bodies: p.bodies,
        compounds: p.compounds,
        root,
    };
    (cfg, p.diags)
}

struct Parser<'a> {
    lx: Lexer<'a>,
    tok: Token,
    prev_end: usize,
    diags: Vec<Diagnostic>,
    bodies: Vec<Body>,
    compounds: Vec<Compound>,
    stack: Vec<Level>,
}

/// A body being parsed, and what its parent does when it closes.
struct Level {
    kind: BodyKind,
    formals: Vec<Formal>,
    stmts: Vec<Stmt>,
    /// Offset of the opening `{`, `||` or `(`.
    open: usize,
    resume: Resume,
}

/// A compound class whose overloads are being collected.
struct CompoundBuilder {
    overloads: Vec<BodyId>,
    open: usize,
}

/// A connection interrupted by a nested body.
struct ConnBuilder {
    sections: Vec<Vec<Element>>,
    current: Vec<Element>,
    arrows: Vec<Arrow>,
    start: usize,
}

/// An element whose reference is known, before its output ports.
struct PartialElement {
    in_ports: Option<PortList>,
    reference: Option<ElementRef>,
    start: usize,
}

enum Resume {
    Root,
    ElementClass {
        name: Ident,
        start: usize,
        compound: CompoundBuilder,
    },
    Compound {
        conn: ConnBuilder,
        in_ports: Option<PortList>,
        name: Option<Ident>,
        start: usize,
        compound: CompoundBuilder,
    },
    Group {
        conn: ConnBuilder,
        in_ports: Option<PortList>,
        start: usize,
    },
}

enum Flow {
    /// Keep parsing statements in the top level.
    Continue,
    /// Start parsing a nested body.
    Push(Box<Level>),
    /// The top level's body ended (at a closing token or end of input).
    End,
    /// The file is done.
    Finished,
}

/// What the start of an element turned out to be.
enum Head {
    Element(PartialElement),
    Compound {
        in_ports: Option<PortList>,
        name: Option<Ident>,
        start: usize,
    },
    Group {
        in_ports: Option<PortList>,
        start: usize,
    },
}

/// Marker: an error was reported and the statement abandoned.
struct Failed;

fn describe(text: &str, t: Token) -> String {
    match t.kind {
        TokenKind::Eof => "the end of the file".to_string(),
        TokenKind::Ident | TokenKind::Variable => format!("'{}'", &text[t.start..t.end]),
        _ => format!("'{}'", &text[t.start..t.end.min(t.start + 8)]),
    }
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, file: u16) -> Self {
        let mut lx = Lexer::new(text, file);
        let tok = lx.next_token();
        Self {
            lx,
            tok,
            prev_end: 0,
            diags: Vec::new(),
            bodies: Vec::new(),
            compounds: Vec::new(),
            stack: Vec::new(),
        }
    }

    fn text(&self) -> &'a str {
        self.lx.text()
    }

    fn span(&self, start: usize, end: usize) -> Span {
        self.lx.span(start, end)
    }

    fn tok_span(&self) -> Span {
        self.span(self.tok.start, self.tok.end)
    }

    fn tok_text(&self) -> &'a str {
        &self.text()[self.tok.start..self.tok.end]
    }

    fn bump(&mut self) {
        self.prev_end = self.tok.end;
        self.tok = self.lx.next_token();
    }

    fn at(&self, kind: TokenKind) -> bool {
        self.tok.kind == kind
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message));
    }

    /// Reports an unexpected token, phrased with what was `expected`.
    fn unexpected(&mut self, expected: &str) -> Failed {
        let msg = match self.tok.kind {
            TokenKind::BadChar => {
                format!(
                    "unexpected character {}: expected {expected}",
                    describe(self.text(), self.tok)
                )
            }
            TokenKind::UnterminatedComment => {
                "unterminated comment: this '/*' has no closing '*/'".to_string()
            }
            _ => format!(
                "expected {expected}, found {}",
                describe(self.text(), self.tok)
            ),
        };
        let span = self.tok_span();
        self.error(span, msg);
        Failed
    }

    /// Skips to a plausible statement boundary after an error.
    fn recover(&mut self) {
        let mut depth = 0usize;
        let mut first = true;
        loop {
            match self.tok.kind {
                TokenKind::Eof => return,
                TokenKind::Semi if depth == 0 => {
                    self.bump();
                    return;
                }
                TokenKind::RBrace | TokenKind::RParen | TokenKind::BarBar if depth == 0 => return,
                TokenKind::RBrace => depth -= 1,
                TokenKind::LBrace => depth += 1,
                TokenKind::Ident
                | TokenKind::ElementClass
                | TokenKind::Require
                | TokenKind::Define
                    if depth == 0 && self.tok.newline_before && !first =>
                {
                    return
                }
                TokenKind::LParen => {
                    let _ = self.lx.config_string();
                }
                _ => {}
            }
            first = false;
            self.bump();
        }
    }

    fn run(&mut self) {
        let len = self.text().len();
        self.stack.push(Level {
            kind: BodyKind::Root,
            formals: Vec::new(),
            stmts: Vec::new(),
            open: 0,
            resume: Resume::Root,
        });
        let _ = len;
        let mut flow = Flow::Continue;
        loop {
            flow = match flow {
                Flow::Push(level) => {
                    self.stack.push(*level);
                    Flow::Continue
                }
                Flow::Continue => self.stmts(),
                Flow::End => match self.stack.pop() {
                    Some(level) => self.close(level),
                    None => Flow::Finished,
                },
                Flow::Finished => return,
            };
        }
    }

    fn top_kind(&self) -> BodyKind {
        self.stack.last().map_or(BodyKind::Root, |l| l.kind)
    }

    fn push_stmt(&mut self, stmt: Stmt) {
        if let Some(level) = self.stack.last_mut() {
            level.stmts.push(stmt);
        }
    }

    /// Parses statements of the top level until it ends or a nested body starts.
    fn stmts(&mut self) -> Flow {
        loop {
            let kind = self.top_kind();
            let outer_has = |k: BodyKind, s: &[Level]| s.iter().rev().skip(1).any(|l| l.kind == k);
            match self.tok.kind {
                TokenKind::Semi => self.bump(),
                TokenKind::Eof => return Flow::End,
                TokenKind::RBrace | TokenKind::BarBar if kind == BodyKind::Compound => {
                    return Flow::End
                }
                TokenKind::RParen if kind == BodyKind::Group => return Flow::End,
                TokenKind::RParen if outer_has(BodyKind::Group, &self.stack) => return Flow::End,
                TokenKind::RBrace | TokenKind::BarBar
                    if outer_has(BodyKind::Compound, &self.stack) =>
                {
                    return Flow::End
                }
                TokenKind::RBrace | TokenKind::RParen | TokenKind::BarBar => {
                    let what = self.tok_text();
                    let opener = match self.tok.kind {
                        TokenKind::RParen => "'('",
                        _ => "'{'",
                    };
                    let span = self.tok_span();
                    self.error(
                        span,
                        format!("unmatched '{what}': there is no {opener} open here; remove it"),
                    );
                    self.bump();
                }
                TokenKind::ElementClass => {
                    if let Some(level) = self.elementclass() {
                        return Flow::Push(Box::new(level));
                    }
                }
                TokenKind::Require | TokenKind::Provide => self.require(),
                TokenKind::Define => self.define(),
                _ => {
                    let conn = ConnBuilder {
                        sections: Vec::new(),
                        current: Vec::new(),
                        arrows: Vec::new(),
                        start: self.tok.start,
                    };
                    if let Some(level) = self.connection(conn, None) {
                        return Flow::Push(Box::new(level));
                    }
                }
            }
        }
    }

    /// Closes the level just popped and resumes its parent's statement.
    fn close(&mut self, level: Level) -> Flow {
        let end = match level.kind {
            BodyKind::Root => self.text().len(),
            _ => self.tok.end.max(self.prev_end),
        };
        let span = self.span(level.open, end);
        let body = Body {
            kind: level.kind,
            formals: level.formals,
            stmts: level.stmts,
            span,
        };
        let id = BodyId(self.bodies.len() as u32);
        self.bodies.push(body);
        match level.resume {
            Resume::Root => Flow::Finished,
            Resume::ElementClass {
                name,
                start,
                mut compound,
            } => {
                compound.overloads.push(id);
                match self.close_compound(compound) {
                    Ok(cid) => {
                        let span = self.span(start, self.prev_end);
                        self.push_stmt(Stmt::ElementClass(ElementClass {
                            name,
                            class: ClassRef::Compound(cid),
                            span,
                        }));
                        Flow::Continue
                    }
                    Err(compound) => {
                        let open = self.tok.start;
                        self.bump();
                        let formals = self.formals();
                        Flow::Push(Box::new(Level {
                            kind: BodyKind::Compound,
                            formals,
                            stmts: Vec::new(),
                            open,
                            resume: Resume::ElementClass {
                                name,
                                start,
                                compound,
                            },
                        }))
                    }
                }
            }
            Resume::Compound {
                conn,
                in_ports,
                name,
                start,
                mut compound,
            } => {
                compound.overloads.push(id);
                match self.close_compound(compound) {
                    Ok(cid) => {
                        let config = self.opt_config();
                        let class = ClassRef::Compound(cid);
                        let reference = match name {
                            Some(name) => ElementRef::Declare {
                                name,
                                class,
                                config,
                            },
                            None => ElementRef::Anonymous { class, config },
                        };
                        let pe = PartialElement {
                            in_ports,
                            reference: Some(reference),
                            start,
                        };
                        self.resume_connection(conn, pe)
                    }
                    Err(compound) => {
                        let open = self.tok.start;
                        self.bump();
                        let formals = self.formals();
                        Flow::Push(Box::new(Level {
                            kind: BodyKind::Compound,
                            formals,
                            stmts: Vec::new(),
                            open,
                            resume: Resume::Compound {
                                conn,
                                in_ports,
                                name,
                                start,
                                compound,
                            },
                        }))
                    }
                }
            }
            Resume::Group {
                conn,
                in_ports,
                start,
            } => {
                if self.at(TokenKind::RParen) {
                    self.bump();
                } else {
                    let span = self.span(level.open, level.open + 1);
                    self.error(
                        span,
                        "unclosed '(': this element group needs a matching ')'",
                    );
                }
                let pe = PartialElement {
                    in_ports,
                    reference: Some(ElementRef::Group(id)),
                    start,
                };
                self.resume_connection(conn, pe)
            }
        }
    }

    fn resume_connection(&mut self, conn: ConnBuilder, pe: PartialElement) -> Flow {
        match self.connection(conn, Some(pe)) {
            Some(level) => Flow::Push(Box::new(level)),
            None => Flow::Continue,
        }
    }

    /// At the end of one overload: `}` finishes the compound (`Ok`), `||` asks for another
    /// overload (`Err`, positioned at the `||`), `|| ... }` finishes it as an extension.
    fn close_compound(&mut self, mut c: CompoundBuilder) -> Result<CompoundId, CompoundBuilder> {
        match self.tok.kind {
            TokenKind::RBrace => self.bump(),
            TokenKind::BarBar => {
                let next = self.lx.peek();
                if next.kind != TokenKind::Ellipsis {
                    return Err(c);
                }
                self.bump();
                self.bump();
                let span = self.span(c.open, self.prev_end);
                if self.at(TokenKind::RBrace) {
                    self.bump();
                } else {
                    self.error(span, "'|| ...' must be the last thing in a compound element: put '}' right after '...'");
                    self.skip_to_brace();
                }
                let id = CompoundId(self.compounds.len() as u32);
                let span = self.span(c.open, self.prev_end);
                self.compounds.push(Compound {
                    overloads: c.overloads,
                    extends_previous: true,
                    span,
                });
                return Ok(id);
            }
            _ => {
                let span = self.span(c.open, c.open + 1);
                self.error(
                    span,
                    "unclosed '{': this compound element needs a matching '}'",
                );
            }
        }
        let id = CompoundId(self.compounds.len() as u32);
        let span = self.span(c.open, self.prev_end);
        c.overloads.shrink_to_fit();
        self.compounds.push(Compound {
            overloads: c.overloads,
            extends_previous: false,
            span,
        });
        Ok(id)
    }

    /// Skips the rest of a compound after an error, through its closing `}`.
    fn skip_to_brace(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.tok.kind {
                TokenKind::Eof => return,
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace if depth == 0 => {
                    self.bump();
                    return;
                }
                TokenKind::RBrace => depth -= 1,
                TokenKind::LParen => {
                    let _ = self.lx.config_string();
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// Formal parameters at the start of a compound body, if any: `$a, KEY $b, __REST__ $c |`.
    fn formals(&mut self) -> Vec<Formal> {
        let mut out: Vec<Formal> = Vec::new();
        let starts_formals = match self.tok.kind {
            TokenKind::Variable | TokenKind::Bar => true,
            TokenKind::Ident => self.lx.peek().kind == TokenKind::Variable,
            _ => false,
        };
        if !starts_formals {
            return out;
        }
        if self.at(TokenKind::Bar) {
            self.bump();
            return out;
        }
        loop {
            let start = self.tok.start;
            let keyword = if self.at(TokenKind::Ident) {
                let k = Ident {
                    name: self.tok_text().to_string(),
                    span: self.tok_span(),
                };
                self.bump();
                Some(k)
            } else {
                None
            };
            if !self.at(TokenKind::Variable) {
                self.unexpected("a parameter such as '$name' in the compound's parameter list");
                self.recover_formals();
                return out;
            }
            let name = variable_name(self.tok_text()).to_string();
            let variable = Ident {
                name,
                span: self.tok_span(),
            };
            self.bump();
            let span = self.span(start, self.prev_end);
            if let Some(prev) = out.last() {
                let prev_rest = prev.keyword.as_ref().is_some_and(|k| k.name == "__REST__");
                if prev_rest {
                    self.error(span, "'__REST__ $var' must be the last parameter: move it to the end of the list");
                } else if prev.keyword.is_some() && keyword.is_none() {
                    self.error(span, format!(
                        "positional parameter '${}' comes after a keyword parameter: list positional parameters first",
                        variable.name
                    ));
                }
            }
            if out.iter().any(|f| f.variable.name == variable.name) {
                self.error(
                    span,
                    format!(
                        "parameter '${}' is listed twice: give each parameter its own name",
                        variable.name
                    ),
                );
            }
            out.push(Formal {
                keyword,
                variable,
                span,
            });
            match self.tok.kind {
                TokenKind::Comma => self.bump(),
                TokenKind::Bar => {
                    self.bump();
                    return out;
                }
                _ => {
                    self.unexpected("',' or '|' after a compound parameter");
                    self.recover_formals();
                    return out;
                }
            }
        }
    }

    fn recover_formals(&mut self) {
        while !matches!(
            self.tok.kind,
            TokenKind::Bar | TokenKind::RBrace | TokenKind::BarBar | TokenKind::Eof
        ) {
            if self.at(TokenKind::LParen) {
                let _ = self.lx.config_string();
            }
            self.bump();
        }
        if self.at(TokenKind::Bar) {
            self.bump();
        }
    }

    /// `( config )` if the current token is `(`.
    fn opt_config(&mut self) -> Option<ConfigString> {
        if !self.at(TokenKind::LParen) {
            return None;
        }
        let open = self.tok.start;
        match self.lx.config_string() {
            ConfigScan::Ok { start, end } => {
                let text = self.text()[start..end].to_string();
                let span = self.span(start, end);
                self.prev_end = end + 1;
                self.tok = self.lx.next_token();
                Some(ConfigString { text, span })
            }
            ConfigScan::Unterminated { quote } => {
                let (span, msg) = match quote {
                    Some(q) if self.text().as_bytes()[q] == b'/' => (
                        self.span(q, q + 2),
                        "unterminated comment inside a configuration string: this '/*' has no closing '*/'",
                    ),
                    Some(q) => (
                        self.span(q, q + 1),
                        "unterminated quote inside a configuration string: add the closing quote",
                    ),
                    None => (
                        self.span(open, open + 1),
                        "unclosed '(': this configuration string needs a matching ')'",
                    ),
                };
                self.error(span, msg);
                self.prev_end = self.text().len();
                self.tok = self.lx.next_token();
                let text = self.text()[open + 1..].to_string();
                Some(ConfigString {
                    text,
                    span: self.span(open + 1, self.text().len()),
                })
            }
        }
    }

    fn elementclass(&mut self) -> Option<Level> {
        let start = self.tok.start;
        self.bump();
        if !self.at(TokenKind::Ident) {
            self.unexpected("a class name after 'elementclass'");
            self.recover();
            return None;
        }
        let name = Ident {
            name: self.tok_text().to_string(),
            span: self.tok_span(),
        };
        self.bump();
        match self.tok.kind {
            TokenKind::LBrace => {
                let open = self.tok.start;
                self.bump();
                let formals = self.formals();
                Some(Level {
                    kind: BodyKind::Compound,
                    formals,
                    stmts: Vec::new(),
                    open,
                    resume: Resume::ElementClass {
                        name,
                        start,
                        compound: CompoundBuilder {
                            overloads: Vec::new(),
                            open,
                        },
                    },
                })
            }
            TokenKind::Ident => {
                let other = Ident {
                    name: self.tok_text().to_string(),
                    span: self.tok_span(),
                };
                self.bump();
                let span = self.span(start, self.prev_end);
                self.push_stmt(Stmt::ElementClass(ElementClass {
                    name,
                    class: ClassRef::Named(other),
                    span,
                }));
                None
            }
            _ => {
                let n = name.name.clone();
                self.unexpected(&format!(
                    "'{{' or an existing class name after 'elementclass {n}'"
                ));
                self.recover();
                None
            }
        }
    }

    fn keyword_config(&mut self, what: &str) -> Option<ConfigString> {
        self.bump();
        if !self.at(TokenKind::LParen) {
            self.unexpected(&format!("'(' after '{what}'"));
            self.recover();
            return None;
        }
        self.opt_config()
    }

    fn require(&mut self) {
        let start = self.tok.start;
        let provide = self.at(TokenKind::Provide);
        let what = if provide { "provide" } else { "require" };
        if let Some(config) = self.keyword_config(what) {
            let span = self.span(start, self.prev_end);
            self.push_stmt(Stmt::Require(Require {
                config,
                provide,
                span,
            }));
        }
    }

    fn define(&mut self) {
        let start = self.tok.start;
        let Some(config) = self.keyword_config("define") else {
            return;
        };
        let mut entries = Vec::new();
        for arg in args::split(&config.text, config.span) {
            let text = args::strip_comments(arg.text);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let rest = text.strip_prefix('$').unwrap_or("");
            let n = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            if n == 0 {
                self.error(arg.span, format!(
                    "define expects '$NAME value' pairs, such as define($DEV eth0); '{text}' does not start with a $NAME"
                ));
                continue;
            }
            let name_span = arg.span.sub(0, n + 1);
            entries.push(DefineEntry {
                name: Ident {
                    name: rest[..n].to_string(),
                    span: name_span,
                },
                value: rest[n..].trim().to_string(),
                span: arg.span,
            });
        }
        let span = self.span(start, self.prev_end);
        self.push_stmt(Stmt::Define(Define { entries, span }));
    }

    /// `[0]`, `[0, 1]`, `[]`.
    fn ports(&mut self) -> Result<PortList, Failed> {
        let start = self.tok.start;
        self.bump();
        let mut ports = Vec::new();
        loop {
            match self.tok.kind {
                TokenKind::RBracket => {
                    self.bump();
                    return Ok(PortList {
                        ports,
                        span: self.span(start, self.prev_end),
                    });
                }
                TokenKind::Ident => {
                    let text = self.tok_text();
                    let span = self.tok_span();
                    if !text.bytes().all(|b| b.is_ascii_digit()) {
                        self.error(span, format!("port numbers are non-negative integers, such as [0] or [1]; '{text}' is not one"));
                        return Err(Failed);
                    }
                    match text.parse::<usize>() {
                        Ok(p) if p <= MAX_PORT => ports.push(p),
                        _ => {
                            self.error(
                                span,
                                format!(
                                    "port number {text} is too large (the largest is {MAX_PORT})"
                                ),
                            );
                            return Err(Failed);
                        }
                    }
                    self.bump();
                    match self.tok.kind {
                        TokenKind::Comma => self.bump(),
                        TokenKind::RBracket => {}
                        _ => return Err(self.unexpected("',' or ']' in a port list")),
                    }
                }
                _ => return Err(self.unexpected("a port number or ']'")),
            }
        }
    }

    fn check_element_name(&mut self, name: &Ident) {
        let all_digits = name
            .name
            .split('/')
            .any(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()));
        if all_digits {
            self.error(name.span, format!(
                "element name '{}' has a part made only of digits; names need a letter, such as 'n{}'",
                name.name, name.name
            ));
        }
    }

    /// The start of an element: optional input ports and its reference (or a nested body).
    fn head(&mut self) -> Result<Head, Failed> {
        let start = self.tok.start;
        let in_ports = if self.at(TokenKind::LBracket) {
            Some(self.ports()?)
        } else {
            None
        };
        let reference = match self.tok.kind {
            TokenKind::Ident => {
                let name = Ident {
                    name: self.tok_text().to_string(),
                    span: self.tok_span(),
                };
                self.bump();
                if self.at(TokenKind::ColonColon) {
                    self.check_element_name(&name);
                    self.bump();
                    match self.tok.kind {
                        TokenKind::Ident => {
                            let class = Ident {
                                name: self.tok_text().to_string(),
                                span: self.tok_span(),
                            };
                            self.bump();
                            let config = self.opt_config();
                            Some(ElementRef::Declare {
                                name,
                                class: ClassRef::Named(class),
                                config,
                            })
                        }
                        TokenKind::LBrace => {
                            return Ok(Head::Compound {
                                in_ports,
                                name: Some(name),
                                start,
                            })
                        }
                        _ => {
                            let n = name.name.clone();
                            return Err(
                                self.unexpected(&format!("a class name or '{{' after '{n} ::'"))
                            );
                        }
                    }
                } else if self.at(TokenKind::LParen) {
                    let config = self.opt_config();
                    Some(ElementRef::Anonymous {
                        class: ClassRef::Named(name),
                        config,
                    })
                } else {
                    self.check_element_name(&name);
                    Some(ElementRef::Name(name))
                }
            }
            TokenKind::LBrace => {
                return Ok(Head::Compound {
                    in_ports,
                    name: None,
                    start,
                })
            }
            TokenKind::LParen => return Ok(Head::Group { in_ports, start }),
            _ => None,
        };
        Ok(Head::Element(PartialElement {
            in_ports,
            reference,
            start,
        }))
    }

    /// Parses (or resumes) a connection. Returns a level to push when a nested body starts;
    /// otherwise the statement is complete (or abandoned after an error).
    fn connection(
        &mut self,
        mut c: ConnBuilder,
        mut resumed: Option<PartialElement>,
    ) -> Option<Level> {
        loop {
            let pe = match resumed.take() {
                Some(pe) => pe,
                None => match self.head() {
                    Ok(Head::Element(pe)) => pe,
                    Ok(Head::Compound {
                        in_ports,
                        name,
                        start,
                    }) => {
                        let open = self.tok.start;
                        self.bump();
                        let formals = self.formals();
                        return Some(Level {
                            kind: BodyKind::Compound,
                            formals,
                            stmts: Vec::new(),
                            open,
                            resume: Resume::Compound {
                                conn: c,
                                in_ports,
                                name,
                                start,
                                compound: CompoundBuilder {
                                    overloads: Vec::new(),
                                    open,
                                },
                            },
                        });
                    }
                    Ok(Head::Group { in_ports, start }) => {
                        let open = self.tok.start;
                        self.bump();
                        return Some(Level {
                            kind: BodyKind::Group,
                            formals: Vec::new(),
                            stmts: Vec::new(),
                            open,
                            resume: Resume::Group {
                                conn: c,
                                in_ports,
                                start,
                            },
                        });
                    }
                    Err(Failed) => {
                        self.recover();
                        return None;
                    }
                },
            };
            if self.element_tail(&mut c, pe).is_err() {
                self.recover();
                return None;
            }
            match self.tok.kind {
                TokenKind::Comma => self.bump(),
                TokenKind::Arrow | TokenKind::Arrow2 => {
                    let kind = if self.at(TokenKind::Arrow) {
                        ArrowKind::Arrow
                    } else {
                        ArrowKind::ManyToMany
                    };
                    c.arrows.push(Arrow {
                        kind,
                        span: self.tok_span(),
                    });
                    c.sections.push(core::mem::take(&mut c.current));
                    self.bump();
                }
                _ => {
                    self.finish_connection(c);
                    return None;
                }
            }
        }
    }

    /// Output ports after an element, and the element's place in the connection.
    fn element_tail(&mut self, c: &mut ConnBuilder, pe: PartialElement) -> Result<(), Failed> {
        let out_ports = if self.at(TokenKind::LBracket) {
            Some(self.ports()?)
        } else {
            None
        };
        let next = self.tok.kind;
        let continues = matches!(
            next,
            TokenKind::Comma | TokenKind::Arrow | TokenKind::Arrow2
        );
        let span = self.span(pe.start, self.prev_end.max(pe.start));
        let first = c.sections.is_empty() && c.current.is_empty();
        let after_arrow = !c.sections.is_empty() && c.current.is_empty();
        let element = match pe.reference {
            Some(reference) => Element {
                in_ports: pe.in_ports,
                reference,
                out_ports,
                span,
            },
            None => {
                let arrow_next = matches!(next, TokenKind::Arrow | TokenKind::Arrow2);
                if first && arrow_next && out_ports.is_none() {
                    // `[1] -> x` or `-> x`: the output ports of the enclosing `input`.
                    let span = pe
                        .in_ports
                        .as_ref()
                        .map_or(self.span(pe.start, pe.start), |p| p.span);
                    Element {
                        in_ports: None,
                        reference: ElementRef::Implicit(Pseudo::Input),
                        out_ports: pe.in_ports,
                        span,
                    }
                } else if after_arrow && !continues && out_ports.is_none() {
                    // `x -> [1]` or `x ->`: the input ports of the enclosing `output`.
                    let span = pe
                        .in_ports
                        .as_ref()
                        .map_or(self.span(self.prev_end, self.prev_end), |p| p.span);
                    Element {
                        in_ports: pe.in_ports,
                        reference: ElementRef::Implicit(Pseudo::Output),
                        out_ports: None,
                        span,
                    }
                } else if first && !continues && c.arrows.is_empty() {
                    return Err(self.unexpected("a statement (an element, a connection, 'elementclass', 'require' or 'define')"));
                } else {
                    return Err(self.unexpected("an element name or class"));
                }
            }
        };
        c.current.push(element);
        Ok(())
    }

    fn finish_connection(&mut self, mut c: ConnBuilder) {
        c.sections.push(core::mem::take(&mut c.current));
        let span = self.span(c.start, self.prev_end.max(c.start));
        let last = c.sections.len() - 1;
        // Ports that lead nowhere: input ports in the first section, output ports in the last.
        let mut bad = Vec::new();
        for (i, section) in c.sections.iter().enumerate() {
            for e in section {
                if matches!(e.reference, ElementRef::Implicit(_)) {
                    continue;
                }
                let name = element_label(&e.reference, self.text());
                if i == 0 {
                    if let Some(p) = &e.in_ports {
                        bad.push((p.span, format!(
                            "input port {} on {name} has nothing connected to it: remove it, or put '... ->' before it",
                            port_text(&p.ports)
                        )));
                    }
                }
                if i == last {
                    if let Some(p) = &e.out_ports {
                        bad.push((p.span, format!(
                            "output port {} on {name} is not connected to anything: add '-> element' after it, or remove it",
                            port_text(&p.ports)
                        )));
                    }
                }
            }
        }
        for (span, msg) in bad {
            self.error(span, msg);
        }
        // `a, b :: Class` on its own declares every name.
        if c.arrows.is_empty() {
            let section = &c.sections[0];
            let plain = |e: &Element| e.in_ports.is_none() && e.out_ports.is_none();
            if let Some(ElementRef::Declare { .. }) = section.last().map(|e| &e.reference) {
                let all_names = section[..section.len() - 1]
                    .iter()
                    .all(|e| plain(e) && matches!(e.reference, ElementRef::Name(_)));
                if all_names && section.iter().all(plain) {
                    let mut names = Vec::new();
                    let mut section = c.sections.pop().unwrap_or_default();
                    let last = section.pop();
                    for e in section {
                        if let ElementRef::Name(n) = e.reference {
                            names.push(n);
                        }
                    }
                    if let Some(Element {
                        reference:
                            ElementRef::Declare {
                                name,
                                class,
                                config,
                            },
                        ..
                    }) = last
                    {
                        names.push(name);
                        self.push_stmt(Stmt::Declaration(Declaration {
                            names,
                            class,
                            config,
                            span,
                        }));
                    }
                    return;
                }
            }
        }
        self.push_stmt(Stmt::Connection(Connection {
            sections: c.sections,
            arrows: c.arrows,
            span,
        }));
    }
}

/// The name of a `$name`, `${name}` or `${name-default}` token, without the decoration.
pub fn variable_name(token: &str) -> &str {
    let t = token.strip_prefix('$').unwrap_or(token);
    match t.strip_prefix('{') {
        Some(inner) => {
            let inner = inner.strip_suffix('}').unwrap_or(inner);
            inner.split('-').next().unwrap_or(inner)
        }
        None => t,
    }
}

fn port_text(ports: &[usize]) -> String {
    let mut s = String::from("[");
    for (i, p) in ports.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&p.to_string());
    }
    s.push(']');
    s
}

fn element_label(r: &ElementRef, text: &str) -> String {
    match r {
        ElementRef::Name(n) | ElementRef::Declare { name: n, .. } => format!("'{}'", n.name),
        ElementRef::Anonymous {
            class: ClassRef::Named(c),
            ..
        } => format!("'{}'", c.name),
        ElementRef::Anonymous { .. } => "the compound element".to_string(),
        ElementRef::Group(_) => "the element group".to_string(),
        ElementRef::Implicit(_) => {
            let _ = text;
            "the pseudo-element".to_string()
        }
    }
}
