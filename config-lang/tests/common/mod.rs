//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sluice_config::{load, parse, ClassSpec, FlatGraph, Source};

/// A small class table with Click's port counts and processing codes.
pub fn classes() -> Vec<ClassSpec> {
    [
        ("InfiniteSource", "0/1", "a/a"),
        ("Idle", "0-/0-", "a/a"),
        ("Counter", "1/1", "a/a"),
        ("Discard", "1/0", "a/a"),
        ("Queue", "1/1", "h/l"),
        ("ToDevice", "1/0", "l/a"),
        ("FromDevice", "0/1", "a/h"),
        ("Tee", "1/1-", "h/h"),
        ("Classifier", "1/1-", "h/h"),
        ("Paint", "1/1", "a/a"),
        ("Print", "1/1", "a/a"),
        ("Unqueue", "1/1", "l/h"),
        ("RoundRobinSched", "1-/1", "l/l"),
        ("Null", "1/1", "a/a"),
        ("Switch", "1/1-", "a/a"),
        ("PaintSwitch", "1/=", "h/h"),
    ]
    .iter()
    .map(|(n, p, c)| ClassSpec::new(n, p, c))
    .collect()
}

fn located(src: &Source, diags: &sluice_config::Diagnostics) -> Vec<(usize, usize, String)> {
    diags
        .0
        .iter()
        .map(|d| {
            let (l, c) = src.line_col(d.span.start as usize);
            (l, c, d.message.clone())
        })
        .collect()
}

/// The syntax errors of `text` as `(line, column, message)`.
pub fn parse_errors(text: &str) -> Vec<(usize, usize, String)> {
    let src = Source::new("t.click", text);
    match parse(&src, 0) {
        Ok(_) => Vec::new(),
        Err(d) => located(&src, &d),
    }
}

/// Every error of loading `text` as `(line, column, message)`.
pub fn load_errors(text: &str) -> Vec<(usize, usize, String)> {
    let src = Source::new("t.click", text);
    match load(&src, &[], &classes()) {
        Ok(_) => Vec::new(),
        Err(d) => located(&src, &d),
    }
}

/// The single error of loading `text`.
pub fn one_error(text: &str) -> (usize, usize, String) {
    let mut e = load_errors(text);
    assert_eq!(e.len(), 1, "expected one error for {text:?}, got {e:#?}");
    e.remove(0)
}

/// Loads `text` (with parameters), panicking with the rendered errors.
pub fn load_with(text: &str, params: &[(&str, &str)]) -> FlatGraph {
    let src = Source::new("t.click", text);
    let params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match load(&src, &params, &classes()) {
        Ok(g) => g,
        Err(d) => panic!("{}", d.render(&[src])),
    }
}

/// Loads `text`, panicking with the rendered errors.
pub fn flat(text: &str) -> FlatGraph {
    load_with(text, &[])
}

/// Flattens without checking classes.
pub fn flatten_only(text: &str) -> FlatGraph {
    let src = Source::new("t.click", text);
    let cfg = parse(&src, 0).unwrap_or_else(|d| panic!("{}", d.render(std::slice::from_ref(&src))));
    sluice_config::flatten(&cfg, &[]).unwrap_or_else(|d| panic!("{}", d.render(&[src])))
}

/// `name :: Class(config)` for every element.
pub fn decls(g: &FlatGraph) -> Vec<String> {
    g.elements
        .iter()
        .map(|e| {
            if e.config.is_empty() {
                format!("{} :: {}", e.name, e.class)
            } else {
                format!("{} :: {}({})", e.name, e.class, e.config)
            }
        })
        .collect()
}

/// `a [p] -> [q] b` for every connection.
pub fn conns(g: &FlatGraph) -> Vec<String> {
    g.connections
        .iter()
        .map(|c| {
            format!(
                "{} [{}] -> [{}] {}",
                g.elements[c.from].name, c.from_port, c.to_port, g.elements[c.to].name
            )
        })
        .collect()
}
