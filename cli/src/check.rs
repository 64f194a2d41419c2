//! `sluice check`, `sluice graph`, `sluice flatten`: the configuration front end.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use crate::config;

/// Arguments of `sluice check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Configuration files to check (`-` for standard input), and `NAME=value` parameters
    /// applied to every file.
    #[arg(required = true, value_name = "FILE|NAME=value")]
    pub args: Vec<String>,
    /// Print one JSON document on standard output instead: per file, its counts or every
    /// error with its position (`file`, `line`, `column`, `end_line`, `end_column`,
    /// `message`, and `rendered`: the text `sluice check` prints).
    #[arg(long)]
    pub json: bool,
}

/// Checks each file; prints a one-line summary of each good one (standard output) and every
/// error (standard error); exit status 1 if any file has one.
pub fn check(args: CheckArgs) -> ExitCode {
    let (params, files): (Vec<String>, Vec<String>) =
        args.args.into_iter().partition(|a| config::is_param(a));
    if files.is_empty() {
        eprintln!("sluice check: no configuration file given");
        return ExitCode::FAILURE;
    }
    if args.json {
        return check_json(&files, &params);
    }
    let mut failed = false;
    for file in &files {
        match config::load(std::path::Path::new(file), &params) {
            Ok(loaded) => {
                let g = &loaded.graph;
                let mut classes: Vec<&str> = g.elements.iter().map(|e| e.class.as_str()).collect();
                classes.sort_unstable();
                classes.dedup();
                let count = |n: usize, one: &str, many: &str| {
                    format!("{n} {}", if n == 1 { one } else { many })
                };
                println!(
                    "{file}: ok: {}, {}, {}",
                    count(g.elements.len(), "element", "elements"),
                    count(g.connections.len(), "connection", "connections"),
                    count(classes.len(), "class", "classes")
                );
            }
            Err(e) => {
                eprint!("{}", with_newline(e.to_string()));
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `sluice check --json`.
fn check_json(files: &[String], params: &[String]) -> ExitCode {
    use crate::json::Json;
    let mut failed = false;
    let mut out = Vec::new();
    for file in files {
        let entry = match config::load(std::path::Path::new(file), params) {
            Ok(loaded) => {
                let g = &loaded.graph;
                let mut classes: Vec<&str> = g.elements.iter().map(|e| e.class.as_str()).collect();
                classes.sort_unstable();
                classes.dedup();
                Json::obj([
                    ("file", Json::str(file.as_str())),
                    ("ok", Json::Bool(true)),
                    ("elements", Json::num(g.elements.len() as f64)),
                    ("connections", Json::num(g.connections.len() as f64)),
                    ("classes", Json::num(classes.len() as f64)),
                ])
            }
            Err(e) => {
                failed = true;
                Json::obj([
                    ("file", Json::str(file.as_str())),
                    ("ok", Json::Bool(false)),
                    ("errors", Json::Arr(error_json(&e))),
                ])
            }
        };
        out.push(entry);
    }
    println!("{}", Json::obj([("files", Json::Arr(out))]));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Each error of a failed load as a JSON object, in source order.
fn error_json(e: &config::LoadError) -> Vec<crate::json::Json> {
    use crate::json::Json;
    let config::LoadError::Config(rejected) = e else {
        return vec![Json::obj([
            ("message", Json::str(e.to_string())),
            ("rendered", Json::str(with_newline(e.to_string()))),
        ])];
    };
    let mut diags = rejected.diags.clone();
    diags.sort();
    diags
        .0
        .iter()
        .map(|d| {
            let rendered = Json::str(d.render(&rejected.sources));
            let Some(src) = rejected.sources.get(usize::from(d.span.file)) else {
                return Json::obj([
                    ("message", Json::str(d.message.as_str())),
                    ("rendered", rendered),
                ]);
            };
            let (line, column) = src.line_col(d.span.start as usize);
            let (end_line, end_column) = src.line_col(d.span.end as usize);
            Json::obj([
                ("file", Json::str(src.name.as_str())),
                ("line", Json::num(line as f64)),
                ("column", Json::num(column as f64)),
                ("end_line", Json::num(end_line as f64)),
                ("end_column", Json::num(end_column as f64)),
                ("message", Json::str(d.message.as_str())),
                ("rendered", rendered),
            ])
        })
        .collect()
}

/// Output formats of `sluice graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz source.
    Dot,
    /// SVG rendered by Graphviz's `dot`.
    Svg,
}

/// Arguments of `sluice graph`.
#[derive(Debug, clap::Args)]
pub struct GraphArgs {
    /// The configuration file (`-` for standard input).
    pub file: PathBuf,
    /// `NAME=value` parameters.
    pub params: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}

/// Prints the flattened graph as DOT or SVG.
pub fn graph(args: GraphArgs) -> ExitCode {
    let loaded = match config::load(&args.file, &args.params) {
        Ok(l) => l,
        Err(e) => {
            eprint!("{}", with_newline(e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let dot = sluice_config::dot::to_dot(&loaded.graph);
    match args.format {
        GraphFormat::Dot => {
            print!("{dot}");
            ExitCode::SUCCESS
        }
        GraphFormat::Svg => match render_svg(&dot) {
            Ok(svg) => {
                let _ = std::io::stdout().write_all(&svg);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("sluice graph: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn render_svg(dot: &str) -> Result<Vec<u8>, String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "--format svg needs Graphviz's 'dot' (install it: apt-get install graphviz), \
                 or use --format dot"
                    .to_string()
            } else {
                format!("cannot run Graphviz's 'dot': {e}")
            }
        })?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(dot.as_bytes())
        .map_err(|e| format!("writing to 'dot': {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("running 'dot': {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "'dot' failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Arguments of `sluice flatten`.
#[derive(Debug, clap::Args)]
pub struct FlattenArgs {
    /// The configuration file (`-` for standard input).
    pub file: PathBuf,
    /// `NAME=value` parameters.
    pub params: Vec<String>,
}

/// Prints an equivalent configuration without compound elements.
pub fn flatten(args: FlattenArgs) -> ExitCode {
    match config::load(&args.file, &args.params) {
        Ok(loaded) => {
            print!("{}", sluice_config::unparse(&loaded.graph));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprint!("{}", with_newline(e.to_string()));
            ExitCode::FAILURE
        }
    }
}

fn with_newline(mut s: String) -> String {
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}
