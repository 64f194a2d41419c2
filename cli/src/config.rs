//! Loading a configuration file the way every subcommand does: read it, apply `NAME=value`
//! parameters, parse, flatten and check against the element registry, and render every error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sluice_config::{ClassSpec, Diagnostic, Diagnostics, FlatGraph, Source};

/// A configuration that loaded cleanly.
pub struct Loaded {
    /// The source text, for rendering later errors (element arguments, initialization).
    pub sources: Vec<Source>,
    /// The flattened, checked graph.
    pub graph: FlatGraph,
}

/// Why a configuration did not load. `Display` gives what the user should read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Read {
        /// The file, as given.
        path: PathBuf,
        /// The I/O error, without the OS error number.
        message: String,
    },
    /// A parameter was not `NAME=value`.
    #[error("bad parameter '{0}': expected NAME=value")]
    Parameter(String),
    /// The configuration has errors; `Display` renders every diagnostic.
    #[error("{}", render(&.0.diags, &.0.sources))]
    Config(Box<Rejected>),
}

/// A configuration with errors, kept for rendering them in either layout.
#[derive(Debug)]
pub struct Rejected {
    /// Every error, in source order.
    pub diags: Diagnostics,
    /// The source text the errors point into.
    pub sources: Vec<Source>,
    /// The flattened graph, when the configuration parsed.
    pub graph: Option<FlatGraph>,
}

/// Every element class this build of sluice knows, as the checker sees them.
pub fn class_table() -> Vec<ClassSpec> {
    let classes = sluice_elements::all_classes();
    sluice_dataplane::element::class_table(&classes)
}

/// Reads `path` (`-` is standard input).
pub fn read_source(path: &Path) -> Result<Source, LoadError> {
    let read_err = |e: std::io::Error| LoadError::Read {
        path: path.to_path_buf(),
        message: io_message(&e),
    };
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin()).map_err(read_err)?
    } else {
        std::fs::read_to_string(path).map_err(read_err)?
    };
    let name = if path == Path::new("-") {
        "<stdin>".into()
    } else {
        path.display().to_string()
    };
    Ok(Source::new(name, text))
}

/// An I/O error as a user reads it: `No such file or directory`, without `(os error 2)`.
pub fn io_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    s.find(" (os error")
        .map_or(s.clone(), |i| s[..i].to_string())
}

/// Whether a command-line word is a `NAME=value` parameter rather than a file name.
pub fn is_param(word: &str) -> bool {
    word.split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Splits `NAME=value` arguments, as Click's driver takes them after the file.
pub fn parse_params(params: &[String]) -> Result<Vec<(String, String)>, LoadError> {
    params
        .iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(LoadError::Parameter(p.clone())),
        })
        .collect()
}

/// Reads, parses, flattens and checks `path` against the registry, then checks every
/// element's arguments.
pub fn load(path: &Path, params: &[String]) -> Result<Loaded, LoadError> {
    load_with(path, params, Unused::Warn)
}

/// Whether a `NAME=value` the configuration never uses is warned about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unused {
    /// On standard error.
    Warn,
    /// Not at all, as Click's driver (`sluice run` in a script, whose standard error
    /// must read as Click's).
    Ignore,
}

/// [`load`], choosing whether unused parameters are warned about.
pub fn load_with(path: &Path, params: &[String], unused: Unused) -> Result<Loaded, LoadError> {
    load_source_with(read_source(path)?, params, unused)
}

/// [`load_with`] for a configuration already read (`sluice run -e TEXT`). Reports the graph's
/// errors, every element's argument errors and every `$NAME` left undefined together, so
/// one run shows everything to fix. With [`Unused::Warn`], warns (standard error) about
/// each `NAME=value` the configuration never uses.
pub fn load_source_with(
    source: Source,
    params: &[String],
    unused: Unused,
) -> Result<Loaded, LoadError> {
    let params = parse_params(params)?;
    let classes = class_table();
    let mut sources = vec![source];
    let mut config = match sluice_config::parse(&sources[0], 0) {
        Ok(c) => c,
        Err(diags) => return Err(rejected(diags, sources, None)),
    };
    let mut seen = BTreeSet::new();
    if let Err(diags) = read_libraries(&mut config, &mut sources, &mut seen) {
        return Err(rejected(diags, sources, None));
    }
    let (graph, mut diags) = sluice_config::load_parsed(&config, &params, &classes);
    if unused == Unused::Warn {
        for warning in unused_params(&sources[0], &params) {
            eprintln!("{}: warning: {warning}", sources[0].name);
        }
    }
    // Element arguments too: a configuration that checks clean also starts. An element
    // with an undefined parameter reports that alone: its arguments hold the text `$NAME`,
    // so their errors would only restate it.
    let undefined = undefined_params(&graph, &sources[0]);
    let elements = sluice_elements::all_classes();
    let arguments = sluice_dataplane::router::check_arguments(&graph, &elements).0;
    diags.0.extend(arguments.into_iter().filter(|d| {
        !undefined
            .iter()
            .any(|(name, _)| d.message.starts_with(&format!("{name} :: ")))
    }));
    diags.0.extend(undefined.into_iter().map(|(_, d)| d));
    if !diags.is_empty() {
        diags
            .0
            .sort_by_key(|d| (d.span.file, d.span.start, d.span.end));
        return Err(rejected(diags, sources, Some(graph)));
    }
    Ok(Loaded { sources, graph })
}

/// Reads the files `cfg`'s `require(library FILE)`s name (relative to the directory of the
/// file that names them), their own libraries first, and splices each in where it was
/// required. A file already read (by path) is not read again, as in Click. Each file read
/// becomes one of `sources`, for diagnostics.
fn read_libraries(
    cfg: &mut sluice_config::ast::Config,
    sources: &mut Vec<Source>,
    seen: &mut BTreeSet<PathBuf>,
) -> Result<(), Diagnostics> {
    let (libraries, errors) = sluice_config::library::libraries(cfg);
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let including = Path::new(&sources[cfg.file as usize].name).to_path_buf();
    let dir = including.parent().unwrap_or(Path::new(""));
    let mut read = Vec::new();
    for lib in libraries {
        let path = dir.join(&lib.file);
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Diagnostics(vec![Diagnostic::error(
                lib.span,
                format!("library '{}': {}", path.display(), io_message(&e)),
            )])
        })?;
        let file = u16::try_from(sources.len()).map_err(|_| {
            Diagnostics(vec![Diagnostic::error(lib.span, "too many library files")])
        })?;
        sources.push(Source::new(path.display().to_string(), text));
        let mut sub = sluice_config::parse(&sources[file as usize], file)?;
        read_libraries(&mut sub, sources, seen)?;
        read.push((lib.stmt, sub));
    }
    for (stmt, sub) in read.into_iter().rev() {
        sluice_config::library::splice(cfg, sub, stmt);
    }
    Ok(())
}

fn rejected(diags: Diagnostics, sources: Vec<Source>, graph: Option<FlatGraph>) -> LoadError {
    LoadError::Config(Box::new(Rejected {
        diags,
        sources,
        graph,
    }))
}

/// Classes that expand `$NAME` themselves when they run (Click's `Script` variables and
/// arguments: `$0`, `$args`, `set x ...; print $x`): a `$NAME` the configuration leaves
/// undefined is theirs.
const RUNTIME_VARIABLES: &[&str] = &["Script", "DriverManager"];

/// The `$NAME` and `${NAME}` references in `text` as `(offset, length, NAME)`; outside single
/// quotes (which protect from substitution) when `quotes` is set.
fn variable_refs(text: &str, quotes: bool) -> Vec<(usize, usize, &str)> {
    let b = text.as_bytes();
    let mut refs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if quotes => i += 2,
            b'\'' if quotes => i = text[i + 1..].find('\'').map_or(b.len(), |n| i + n + 2),
            b'$' => {
                let rest = &text[i + 1..];
                let (name, len) = match rest.strip_prefix('{') {
                    Some(inner) => match inner.find('}') {
                        Some(n) => (inner[..n].split('-').next().unwrap_or(""), n + 2),
                        None => ("", 0),
                    },
                    None => {
                        let n = rest
                            .bytes()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                            .count();
                        (&rest[..n], n)
                    }
                };
                if !name.is_empty() {
                    refs.push((i, 1 + len, name));
                }
                i += 1 + len;
            }
            _ => i += 1,
        }
    }
    refs
}

/// An error for every `$NAME` still in an element's arguments after substitution: nothing
/// defines it (Click would hand the element the text `$NAME` itself, which is never what
/// was meant), with the element's name. The caret points at the reference where the
/// source has it.
fn undefined_params<'g>(graph: &'g FlatGraph, source: &Source) -> Vec<(&'g str, Diagnostic)> {
    let mut diags = Vec::new();
    for e in &graph.elements {
        if RUNTIME_VARIABLES.contains(&e.class.as_str()) {
            continue;
        }
        for (_, _, name) in variable_refs(&e.config, true) {
            let written = source
                .text
                .get(e.config_span.start as usize..e.config_span.end as usize)
                .and_then(|cfg| {
                    variable_refs(cfg, true)
                        .into_iter()
                        .find(|(_, _, n)| *n == name)
                        .map(|(at, len, _)| (at, len))
                });
            let span = match written {
                Some((at, len)) => e.config_span.sub(at, at + len),
                None => e.span,
            };
            diags.push((
                e.name.as_str(),
                Diagnostic::error(
                    span,
                    format!(
                        "{} :: {}: parameter '${name}' is not defined: define it \
                     (`define(${name} VALUE)`) or set it on the command line ({name}=VALUE)",
                        e.name, e.class
                    ),
                ),
            ));
        }
    }
    diags
}

/// A warning for every `NAME=value` whose `$NAME` the configuration never mentions, with
/// the parameters it does use (and the closest one, for a typo). Click's driver ignores such
/// a setting silently; a misspelt `OUTO=file` would then leave an output at its default.
fn unused_params(source: &Source, params: &[(String, String)]) -> Vec<String> {
    // Every mention counts, quoted or in a comment: this only catches settings that
    // cannot have any effect.
    let mut used: Vec<&str> = variable_refs(&source.text, false)
        .into_iter()
        .map(|(_, _, n)| n)
        .collect();
    used.sort_unstable();
    used.dedup();
    params
        .iter()
        .map(|(k, v)| (k.strip_prefix('$').unwrap_or(k), v))
        .filter(|(k, _)| !used.contains(k))
        .map(|(k, v)| {
            let known = if used.is_empty() {
                "it has no parameters".to_string()
            } else {
                let list: Vec<String> = used.iter().map(|n| format!("${n}")).collect();
                format!("its parameters are {}", list.join(", "))
            };
            let hint = sluice_config::suggest(k, &used)
                .map(|n| format!("; did you mean {n}=...?"))
                .unwrap_or_default();
            format!("{k}={v} is not used: the configuration never refers to ${k} ({known}){hint}")
        })
        .collect()
}

/// Renders diagnostics with a closing count, as compilers do.
pub fn render(diags: &Diagnostics, sources: &[Source]) -> String {
    let mut out = diags.render(sources);
    let n = diags.0.len();
    out.push_str(&format!(
        "{n} error{} found\n",
        if n == 1 { "" } else { "s" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_references() {
        let refs = |t: &str, q: bool| -> Vec<(usize, usize, String)> {
            variable_refs(t, q)
                .into_iter()
                .map(|(a, l, n)| (a, l, n.to_string()))
                .collect()
        };
        assert_eq!(
            refs("$IN, ${OUT-x} $", true),
            vec![(0, 3, "IN".into()), (5, 8, "OUT".into())]
        );
        assert_eq!(refs("'$a' \\$b $c", true), vec![(9, 2, "c".into())]);
        assert_eq!(refs("'$a'", false), vec![(1, 2, "a".into())]);
    }

    #[test]
    fn unused_parameters_are_named_with_a_suggestion() {
        let src = Source::new(
            "x.click",
            "define($OUT0 a.pcap); FromDump($IN) -> ToDump($OUT0);",
        );
        let params = vec![
            ("OUTO".to_string(), "b".to_string()),
            ("IN".into(), "c".into()),
        ];
        let w = unused_params(&src, &params);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("OUTO=b is not used"), "{}", w[0]);
        assert!(
            w[0].contains("$IN, $OUT0") && w[0].ends_with("did you mean OUT0=...?"),
            "{}",
            w[0]
        );
    }
}
