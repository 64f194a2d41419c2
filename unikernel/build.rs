//! Build script of the image.
//!
//! 1. Passes the linker script to the linker. Emitting it here (not in rustflags) keeps it in
//!    force even when a caller sets `RUSTFLAGS`.
//! 2. Generates `registry.rs`, the image's element registry and configuration:
//!    - with `SLUICE_CONFIG=<flat configuration file>` (what `sluice build` sets), a
//!      *specialized* image: the graph is parsed here, on the host, and emitted as Rust code
//!      that rebuilds the `FlatGraph` at boot, and the registry names only the classes that
//!      graph uses (`&sluice_elements::classes::<Class>`), so the linker drops every other
//!      element (a firewall image carries no NAT) and the parser is not in the image at all;
//!      what elements compute from their arguments is computed here too
//!      (`sluice_dataplane::router::prepare`: the classifiers' programs) and embedded as
//!      `PREPARED`, and those classes are registered in their *prepared* form, which only
//!      decodes it — the pattern compilers are not in the image and nothing compiles at boot;
//!      the configuration's text is not carried when it is what `sluice_config::unparse`
//!      prints from the graph (`sluice build`'s flat configurations: the guest prints it
//!      again), and otherwise comes along without its comments (`sluice_config::compact`),
//!      with the graph's spans moved to match: diagnostics point at the same lines and
//!      columns, and elements' arguments are the same bytes;
//!    - without it, a *generic* image with every `no_std` class, which reads its
//!      configuration at boot (a PVH module, `-initrd fw.click`).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rustc-link-arg-bins=-znoexecstack");
    // Segments packed in the file (not padded to page offsets): their load addresses stay
    // page-aligned (the linker script), and the loader copies each by its file offset.
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-changed=src/arch/boot.S");
    println!("cargo:rerun-if-env-changed=SLUICE_CONFIG");
    println!("cargo::rustc-check-cfg=cfg(sluice_embedded)");

    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let registry = match std::env::var_os("SLUICE_CONFIG").filter(|v| !v.is_empty()) {
        Some(path) => {
            let path = PathBuf::from(path);
            println!("cargo:rerun-if-changed={}", path.display());
            println!("cargo:rustc-cfg=sluice_embedded");
            specialized(&path)
        }
        None => GENERIC.to_string(),
    };
    std::fs::write(out.join("registry.rs"), registry).expect("write registry.rs");
}

const GENERIC: &str = "\
/// No configuration is built in: it comes at boot.
pub const EMBEDDED: Option<Embedded> = None;

/// Every element class that runs without an operating system.
pub fn classes() -> alloc::vec::Vec<&'static ElementClass> {
    sluice_elements::all_classes()
}

/// Nothing prepared on the host: elements compute at boot.
pub static PREPARED: &[Option<&[u8]>] = &[];
";

fn specialized(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("SLUICE_CONFIG: cannot read {}: {e}", path.display()));
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let source = sluice_config::Source::new(name.clone(), text.clone());
    let graph = sluice_config::parse(&source, 0)
        .and_then(|config| sluice_config::flatten(&config, &[]))
        .unwrap_or_else(|diags| {
            panic!(
                "SLUICE_CONFIG {} does not parse (run `sluice check` on it):\n{}",
                path.display(),
                diags.render(std::slice::from_ref(&source))
            )
        });

    let classes: BTreeSet<&str> = graph.elements.iter().map(|e| e.class.as_str()).collect();
    let prepared = sluice_dataplane::router::prepare(&graph, &sluice_elements::all_classes())
        .unwrap_or_else(|diags| {
            panic!(
                "SLUICE_CONFIG {}: elements do not configure (run `sluice check` on it):\n{}",
                path.display(),
                diags.render(std::slice::from_ref(&source))
            )
        });
    let mut s = String::new();
    s.push_str("/// The configuration built into this image.\n");
    s.push_str("pub const EMBEDDED: Option<Embedded> = Some(Embedded {\n");
    let _ = writeln!(s, "    name: {name:?},");
    // The text diagnostics quote and the global `config` handler shows. A flat
    // configuration as `sluice build` writes it is what `unparse` makes of its own graph: the
    // guest prints it again from the graph instead of carrying it. Any other text comes
    // along without its comments (every token keeps its line and column, every
    // configuration string its bytes).
    let regenerate = sluice_config::unparse(&graph) == text;
    let compact = sluice_config::compact::Compacted::new(&text);
    if regenerate {
        s.push_str("    text: None,\n    graph,\n});\n\n");
    } else {
        s.push_str("    text: Some(TEXT),\n    graph,\n});\n\n");
        let _ = writeln!(s, "const TEXT: &str = {:?};\n", compact.text);
    }
    s.push_str("/// The classes the built-in configuration uses, and only those.\n");
    s.push_str("pub fn classes() -> alloc::vec::Vec<&'static ElementClass> {\n");
    s.push_str("    alloc::vec![\n");
    for class in &classes {
        assert!(
            class.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "class name {class:?} is not an identifier"
        );
        match sluice_elements::classify::prepared::class_path(class) {
            Some(path) => {
                let _ = writeln!(s, "        &{path},");
            }
            None => {
                let _ = writeln!(s, "        &sluice_elements::classes::{class},");
            }
        }
    }
    s.push_str("    ]\n}\n\n");
    s.push_str("/// What the host computed for each element (`Element::prepared`), by index.\n");
    s.push_str("pub static PREPARED: &[Option<&[u8]>] = &[\n");
    for p in &prepared {
        match p {
            None => s.push_str("    None,\n"),
            Some(bytes) => {
                s.push_str("    Some(b\"");
                for b in bytes {
                    let _ = write!(s, "\\x{b:02x}");
                }
                s.push_str("\"),\n");
            }
        }
    }
    s.push_str("];\n\n");
    s.push_str("fn graph() -> FlatGraph {\n");
    s.push_str("    let span = |start: u32, end: u32| Span { file: 0, start, end };\n");
    s.push_str("    let element = |name: &str, class: &str, config: &str, at: (u32, u32), config_at: (u32, u32)| FlatElement {\n");
    s.push_str("        name: name.into(),\n        class: class.into(),\n        config: config.into(),\n");
    s.push_str("        span: span(at.0, at.1),\n        config_span: span(config_at.0, config_at.1),\n    };\n");
    s.push_str("    let connection = |from, from_port, to, to_port| FlatConnection { from, from_port, to, to_port };\n");
    s.push_str("    FlatGraph {\n        elements: alloc::vec![\n");
    for e in &graph.elements {
        // A configuration string that is a stretch of the text (as written, without
        // substitutions) is that stretch, not a second copy of it.
        let (span, config_span) = if regenerate {
            (e.span, e.config_span)
        } else {
            (compact.span(e.span), compact.span(e.config_span))
        };
        let (a, b) = (config_span.start as usize, config_span.end as usize);
        let config = if !regenerate && compact.text.get(a..b) == Some(e.config.as_str()) {
            format!("&TEXT[{a}..{b}]")
        } else {
            format!("{:?}", e.config)
        };
        let _ = writeln!(
            s,
            "            element({:?}, {:?}, {config}, ({}, {}), ({}, {})),",
            e.name, e.class, span.start, span.end, config_span.start, config_span.end
        );
    }
    s.push_str("        ],\n        connections: alloc::vec![\n");
    for c in &graph.connections {
        let _ = writeln!(
            s,
            "            connection({}, {}, {}, {}),",
            c.from, c.from_port, c.to, c.to_port
        );
    }
    s.push_str("        ],\n        requirements: alloc::vec![\n");
    for r in &graph.requirements {
        let _ = writeln!(s, "            {r:?}.into(),");
    }
    s.push_str("        ],\n    }\n}\n");
    s
}
