//! `sluice doc` as a user runs it: one manual, the list of classes, a misspelled class.

use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

#[test]
fn a_class_prints_its_manual_as_plain_text() {
    let out = sluice(&["doc", "IPFilter"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(
            "IPFilter(ACTION_1 PATTERN_1, ..., ACTION_N PATTERN_N) — filters IP packets by contents.\n"
        ),
        "{text}"
    );
    // Labels in order, without markdown bold; no comment markers; code indented, not fenced.
    let at = |label: &str| {
        text.find(&format!("\n{label}"))
            .unwrap_or_else(|| panic!("no {label}: {text}"))
    };
    assert!(at("Ports: `1/-`") < at("Processing: `h/h`"));
    assert!(at("Processing:") < at("Handlers:"));
    assert!(at("Handlers:") < at("Example:"));
    assert!(at("Example:") < at("Differences from Click:"));
    assert!(
        text.contains("\n    IPFilter(deny src INTERNALNET,\n"),
        "{text}"
    );
    assert!(text.contains("a PATTERN in `IPClassifier`'s\n"), "{text}");
    for markup in ["//!", "**", "```", "](super::"] {
        assert!(!text.contains(markup), "{markup} in {text}");
    }
}

#[test]
fn a_secondary_class_prints_only_its_own_section() {
    let out = sluice(&["doc", "RandomSource"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("RandomSource(LENGTH"), "{text}");
    assert!(!text.contains("## "), "{text}");
    assert!(!text.contains("InfiniteSource([DATA"), "{text}");
}

#[test]
fn no_class_lists_every_class_with_its_summary() {
    let out = sluice(&["doc"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let line = |class: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(class))
            .unwrap_or_else(|| panic!("{class} not listed: {text}"))
            .to_string()
    };
    assert!(line("IPFilter").ends_with("filters IP packets by contents"));
    assert!(line("RandomSource").contains("random packets"));
    line("FromDump");
    line("DriverManager");
    // Sorted by name, case aside.
    let names: Vec<String> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_ascii_lowercase())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn an_unknown_class_fails_with_a_suggestion() {
    let out = sluice(&["doc", "IPFliter"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "sluice doc: no element class 'IPFliter'; did you mean 'IPFilter'?\n"
    );

    let out = sluice(&["doc", "counter"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("sluice doc: no element class 'counter'; did you mean 'Counter'?"));

    let out = sluice(&["doc", "Foo"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("sluice doc: no element class 'Foo'"),
        "{err}"
    );
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn the_committed_element_reference_is_what_sluice_doc_writes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = sluice(&["doc", "--markdown", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/elements");
    let names = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let written = names(dir.path());
    assert!(written.contains(&"IPFilter.md".to_string()) && written.len() > 100);
    assert_eq!(
        names(&committed),
        written,
        "docs/elements is stale: run `sluice doc --markdown docs/elements`"
    );
    for n in &written {
        let a = std::fs::read_to_string(dir.path().join(n)).unwrap();
        let b = std::fs::read_to_string(committed.join(n)).unwrap();
        assert_eq!(
            a, b,
            "docs/elements/{n} is stale: run `sluice doc --markdown docs/elements`"
        );
    }
    let page = std::fs::read_to_string(dir.path().join("IPFilter.md")).unwrap();
    assert!(page.starts_with("# `IPFilter(ACTION_1 PATTERN_1, ..., ACTION_N PATTERN_N)`\n"));
    assert!(
        !page.contains("](crate::") && !page.contains("](super::"),
        "{page}"
    );
}
