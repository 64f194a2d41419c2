//! `sluice check`, `graph` and `flatten` as a user runs them.

use std::path::PathBuf;
use std::process::{Command, Output};

fn sluice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .output()
        .expect("run sluice")
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

const GOOD: &str = "\
define($PORT 7)
elementclass Filter { $port |
  input -> f :: IPFilter(allow udp port $port, deny all) -> output;
}
src :: InfiniteSource(LIMIT 5) -> Strip(14) -> CheckIPHeader -> fw :: Filter($PORT)
  -> c :: Counter -> Discard;
";

#[test]
fn valid_file_exits_zero_and_prints_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "fw.click", GOOD);
    let out = sluice(&["check", f.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The compound flattens to `fw/f`: six elements of six classes, five connections.
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        summary,
        format!(
            "{}: ok: 6 elements, 5 connections, 6 classes\n",
            f.display()
        )
    );
}

#[test]
fn every_error_is_reported_with_position_and_caret() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "bad.click",
        "a :: Counter -> Countr -> Discard;\nb :: Bogus;\nb -> a;\n",
    );
    let out = sluice(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = f.display().to_string();
    assert!(
        err.contains(&format!(
            "{name}:1:17: error: unknown element class 'Countr'; did you mean 'Counter'?"
        )),
        "{err}"
    );
    assert!(
        err.contains(
            "    1 | a :: Counter -> Countr -> Discard;\n      |                 ^^^^^^\n"
        ),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name}:2:")) && err.contains("'Bogus'"),
        "{err}"
    );
    assert!(err.ends_with("2 errors found\n"), "{err}");
}

#[test]
fn parameters_after_the_file_override_defines() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "fw.click", GOOD);
    let out = sluice(&["flatten", f.to_str().unwrap(), "PORT=53"]);
    assert!(out.status.success());
    let flat = String::from_utf8_lossy(&out.stdout);
    assert!(
        flat.contains("fw/f :: IPFilter(allow udp port 53, deny all);"),
        "{flat}"
    );
    // The flat configuration parses and checks again.
    let g = write(&dir, "flat.click", &flat);
    assert!(sluice(&["check", g.to_str().unwrap()]).status.success());
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = sluice(&["check", "/nonexistent/fw.click"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/fw.click: No such file or directory"),
        "{err}"
    );
}

#[test]
fn graph_prints_dot_with_hierarchical_names() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "fw.click", GOOD);
    let out = sluice(&["graph", f.to_str().unwrap()]);
    assert!(out.status.success());
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(dot.starts_with("digraph"), "{dot}");
    assert!(dot.contains("fw/f"), "{dot}");
}

#[test]
fn element_arguments_are_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "args.click",
        "InfiniteSource(LIMIT lots) -> IPFilter(allow tcp port eighty) -> Discard;\n",
    );
    let out = sluice(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("InfiniteSource@1 :: InfiniteSource: LIMIT"),
        "{err}"
    );
    assert!(err.contains("IPFilter@2 :: IPFilter"), "{err}");
    assert!(err.ends_with("2 errors found\n"), "{err}");
}
