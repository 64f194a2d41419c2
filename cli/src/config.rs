//! Loading a configuration file the way every subcommand does: read it, apply `NAME=value`
//! parameters, parse, flatten and check against the element registry, and render every error.

use std::path::{Path, PathBuf};

use sluice_config::{ClassSpec, Diagnostics, FlatGraph, Source};

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
    /// The configuration has errors; the text is every diagnostic, rendered.
    #[error("{0}")]
    Config(String),
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
    load_source(read_source(path)?, params)
}

/// [`load`] for a configuration already read (`sluice run -e TEXT`).
pub fn load_source(source: Source, params: &[String]) -> Result<Loaded, LoadError> {
    let params = parse_params(params)?;
    let classes = class_table();
    let sources = vec![source];
    let graph = sluice_config::load(&sources[0], &params, &classes)
        .map_err(|diags| LoadError::Config(render(&diags, &sources)))?;
    // Element arguments too: a configuration that checks clean also starts.
    let diags = sluice_dataplane::router::check_arguments(&graph, &sluice_elements::all_classes());
    if !diags.is_empty() {
        return Err(LoadError::Config(render(&diags, &sources)));
    }
    Ok(Loaded { sources, graph })
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
