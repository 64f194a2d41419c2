//! Build script of the image.
//!
//! 1. Passes the linker script to the linker. Emitting it here (not in rustflags) keeps it in
//!    force even when a caller sets `RUSTFLAGS`.
//! 2. Generates `registry.rs`, the image's element registry and configuration:
//!    - with `SLUICE_CONFIG=<flat configuration file>` (what `sluice build` sets), a
//!      *specialized* image: the configuration is parsed here, on the host, and prepared
//!      (`sluice_dataplane::prepared::PreparedConfig::from_flat`: the graph, and what
//!      elements compute from their arguments, the classifiers' programs), and its
//!      encoding (`PreparedConfig::encode`, what `sluice ctl VM hotconfig` sends too) is
//!      built into the image as `EMBEDDED`, decoded at boot; the registry names only the
//!      classes that graph uses (`&sluice_elements::classes::<Class>`), so the linker drops
//!      every other element (a firewall image carries no NAT) and the parser is not in the
//!      image at all; the classifiers are registered in their *prepared* form, which only
//!      decodes their programs — the pattern compilers are not in the image and nothing
//!      compiles at boot; the configuration's text is not carried when it is what
//!      `sluice_config::unparse` prints from the graph (`sluice build`'s flat
//!      configurations: the guest prints it again), and otherwise comes along without its
//!      comments (`sluice_config::compact`), with the graph's spans moved to match:
//!      diagnostics point at the same lines and columns, and elements' arguments are the
//!      same bytes;
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
pub static EMBEDDED: Option<&[u8]> = None;

/// Every element class that runs without an operating system.
pub fn classes() -> alloc::vec::Vec<&'static ElementClass> {
    sluice_elements::all_classes()
}
";

fn specialized(path: &std::path::Path) -> String {
    use sluice_dataplane::prepared::PreparedConfig;

    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("SLUICE_CONFIG: cannot read {}: {e}", path.display()));
    let name = path
        .file_name()
        .map_or_else(|| "config".into(), |n| n.to_string_lossy().into_owned());
    let mut config = PreparedConfig::from_flat(&name, &text, &sluice_elements::all_classes())
        .unwrap_or_else(|diags| {
            let source = sluice_config::Source::new(name.clone(), text.clone());
            panic!(
                "SLUICE_CONFIG {} does not parse or configure (run `sluice check` on it):\n{}",
                path.display(),
                diags.render(std::slice::from_ref(&source))
            )
        });
    // The text diagnostics quote and the global `config` handler shows. A flat
    // configuration as `sluice build` writes it is what `unparse` makes of its own graph:
    // the encoding leaves it out and the guest prints it again. Any other text comes
    // along without its comments (every token keeps its line and column, every
    // configuration string its bytes), the spans moved to match.
    if sluice_config::unparse(&config.graph) != text {
        let compact = sluice_config::compact::Compacted::new(&text);
        for e in &mut config.graph.elements {
            e.span = compact.span(e.span);
            e.config_span = compact.span(e.config_span);
        }
        config.text = compact.text;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("config.bin"), config.encode()).expect("write config.bin");

    let classes: BTreeSet<&str> = config
        .graph
        .elements
        .iter()
        .map(|e| e.class.as_str())
        .collect();
    let mut s = String::new();
    s.push_str(
        "/// The configuration built into this image, as `PreparedConfig::encode` wrote it.\n",
    );
    s.push_str(
        "pub static EMBEDDED: Option<&[u8]> = \
         Some(include_bytes!(concat!(env!(\"OUT_DIR\"), \"/config.bin\")));\n\n",
    );
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
    s.push_str("    ]\n}\n");
    s
}
