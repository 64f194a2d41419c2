//! `require(library FILE)`: another configuration file read in at that point, as Click's
//! userlevel driver reads one. The caller (which has a file system) finds the files with
//! [`libraries`], parses each, and splices it in with [`splice`]; the library's statements
//! then stand right after the `require` that named it, so its element classes are defined
//! for what follows and its elements are numbered where it was required.

use alloc::string::String;
use alloc::vec::Vec;

use crate::args;
use crate::ast::{BodyId, ClassRef, CompoundId, Config, ElementRef, Stmt};
use crate::span::{Diagnostic, Span};

/// One `library FILE` of a top-level `require`: the statement's index in the root body, the
/// file name as written (unquoted), and where the statement is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Library {
    pub stmt: usize,
    pub file: String,
    pub span: Span,
}

/// The `library FILE` requirements of `cfg`'s top level, in order, and an error for each
/// one inside a compound (Click reads libraries at file scope only).
pub fn libraries(cfg: &Config) -> (Vec<Library>, Vec<Diagnostic>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (b, body) in cfg.bodies.iter().enumerate() {
        for (i, stmt) in body.stmts.iter().enumerate() {
            let Stmt::Require(r) = stmt else { continue };
            if r.provide {
                continue;
            }
            for file in library_files(&r.config.text) {
                if b == cfg.root.0 as usize {
                    found.push(Library {
                        stmt: i,
                        file,
                        span: r.span,
                    });
                } else {
                    errors.push(Diagnostic::error(
                        r.span,
                        "'require(library ...)' must be used at file scope, not inside an element class",
                    ));
                }
            }
        }
    }
    (found, errors)
}

/// The files of the `library FILE` items of a `require`'s arguments, split and unquoted as
/// every configuration string is.
fn library_files(text: &str) -> Vec<String> {
    args::split(text, Span::default())
        .into_iter()
        .filter_map(|arg| {
            let word: String = library_word(&args::strip_comments(arg.text))?.into();
            let file = args::unquote(&word).unwrap_or(word);
            (!file.is_empty()).then_some(file)
        })
        .collect()
}

/// The file as written in a `require` argument that is `library FILE`.
pub(crate) fn library_word(arg: &str) -> Option<&str> {
    let rest = arg.trim().strip_prefix("library")?;
    rest.starts_with(char::is_whitespace).then(|| rest.trim())
}

/// Puts `lib`'s top-level statements into `main`'s top level right after statement `after`
/// (the `require` that named it), and its compound bodies and element groups alongside
/// `main`'s. Statements spliced earlier at later positions shift: splice the libraries of
/// one file from the last to the first.
pub fn splice(main: &mut Config, lib: Config, after: usize) {
    let body_base = main.bodies.len() as u32;
    let compound_base = main.compounds.len() as u32;
    let body = |id: BodyId| BodyId(id.0 + body_base);
    let class = |c: &mut ClassRef| {
        if let ClassRef::Compound(id) = c {
            *id = CompoundId(id.0 + compound_base);
        }
    };
    let lib_root = lib.root;
    let mut bodies = lib.bodies;
    for b in &mut bodies {
        for stmt in &mut b.stmts {
            match stmt {
                Stmt::Declaration(d) => class(&mut d.class),
                Stmt::ElementClass(ec) => class(&mut ec.class),
                Stmt::Connection(c) => {
                    for e in c.sections.iter_mut().flatten() {
                        match &mut e.reference {
                            ElementRef::Declare { class: c, .. }
                            | ElementRef::Anonymous { class: c, .. } => class(c),
                            ElementRef::Group(g) => *g = body(*g),
                            ElementRef::Name(_) | ElementRef::Implicit(_) => {}
                        }
                    }
                }
                Stmt::Require(_) | Stmt::Define(_) => {}
            }
        }
    }
    let mut compounds = lib.compounds;
    for c in &mut compounds {
        for o in &mut c.overloads {
            *o = body(*o);
        }
    }
    let stmts = core::mem::take(&mut bodies[lib_root.0 as usize].stmts);
    main.bodies.extend(bodies);
    main.compounds.extend(compounds);
    let root = &mut main.bodies[main.root.0 as usize].stmts;
    let at = (after + 1).min(root.len());
    root.splice(at..at, stmts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_items_are_found_among_other_requirements() {
        assert_eq!(
            library_files("library lib, package x, library \"dir/a b\", compact_config"),
            ["lib", "dir/a b"]
        );
        assert!(library_files("libraryx y").is_empty());
        assert!(library_files("library").is_empty());
    }
}
