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

#[test]
fn graph_and_argument_errors_are_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "both.click",
        "Idle -> Strip(abc) -> Nope -> Discard;\nIdle -> [3]Discard;\n",
    );
    let out = sluice(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = f.display().to_string();
    // The argument error comes in source order among the graph's errors.
    let strip = err
        .find(&format!("{name}:1:15: error: Strip@2 :: Strip: LENGTH"))
        .unwrap_or_else(|| panic!("{err}"));
    let nope = err
        .find(&format!("{name}:1:23: error: unknown element class 'Nope'"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(strip < nope, "{err}");
    assert!(err.contains("has no input [3]"), "{err}");
    // The unknown class is reported once, by the graph check.
    assert_eq!(err.matches("'Nope'").count(), 1, "{err}");
    assert!(err.ends_with("4 errors found\n"), "{err}");
}

#[test]
fn an_undefined_parameter_fails_check_at_its_reference() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "undef.click",
        "define($OUT out.pcap);\nFromDump($IN, STOP true) -> Strip(${LEN}) -> ToDump($OUT);\n",
    );
    let out = sluice(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = f.display().to_string();
    assert!(
        err.contains(&format!(
            "{name}:2:10: error: FromDump@1 :: FromDump: parameter '$IN' is not defined: \
             define it (`define($IN VALUE)`) or set it on the command line (IN=VALUE)\n"
        )),
        "{err}"
    );
    assert!(
        err.contains("    2 | FromDump($IN, STOP true)") && err.contains("      |          ^^^\n"),
        "{err}"
    );
    // Strip's own complaint about the text `${LEN}` would only restate the cause.
    assert!(err.contains("parameter '$LEN' is not defined"), "{err}");
    assert!(!err.contains("LENGTH:"), "{err}");
    assert!(err.ends_with("2 errors found\n"), "{err}");
    // Set on the command line, both are fine.
    let ok = sluice(&["check", f.to_str().unwrap(), "IN=x.pcap", "LEN=14"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn script_variables_are_left_to_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "script.click",
        "Script(set x 1, print $x $args);\nDriverManager(print $y, stop);\n",
    );
    let out = sluice(&["check", f.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unused_parameter_warns_and_names_the_ones_used() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "p.click",
        "define($OUT0 a.pcap, $OUT1 b.pcap);\nIdle -> ToDump($OUT0); Idle -> ToDump($OUT1);\n",
    );
    let out = sluice(&[
        "check",
        f.to_str().unwrap(),
        "OUTO=/tmp/x.pcap",
        "OUT1=c.pcap",
    ]);
    // A warning, not an error: the configuration itself is fine.
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!(
            "{}: warning: OUTO=/tmp/x.pcap is not used: the configuration never refers to \
             $OUTO (its parameters are $OUT0, $OUT1); did you mean OUT0=...?\n",
            f.display()
        )
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok: "));
}

/// IPFilter and IPClassifier number their patterns as Click 2.1 does, from 0: `click -e
/// 'Idle -> IPFilter(allow tcp, allow bogus) -> Discard'` says "pattern 1: empty term near
/// 'bogus'". The caret shows which one is meant either way.
#[test]
fn filter_patterns_are_numbered_as_click_numbers_them() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "f.click",
        "Idle -> IPFilter(allow tcp, allow bogus) -> Discard;\n",
    );
    let out = sluice(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("IPFilter@2 :: IPFilter: pattern 1: empty term near 'bogus'"),
        "{err}"
    );
    assert!(
        err.contains("      |                                   ^^^^^\n"),
        "{err}"
    );
}

#[test]
fn json_reports_each_file_and_every_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(&dir, "fw.click", GOOD);
    let bad = write(
        &dir,
        "bad.click",
        "src :: InfiniteSource -> Nonesuch -> Discard;\n",
    );
    let out = sluice(&[
        "check",
        "--json",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        "/nonexistent/x.click",
    ]);
    assert_eq!(out.status.code(), Some(1), "a file has errors");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert_eq!(json.lines().count(), 1, "one document: {json}");
    let good_entry = format!(
        "{{\"file\": \"{}\", \"ok\": true, \"elements\": 6,",
        good.display()
    );
    assert!(
        json.starts_with("{\"files\": [") && json.contains(&good_entry),
        "{json}"
    );
    let bad_entry = format!(
        "{{\"file\": \"{0}\", \"ok\": false, \"errors\": [{{\"file\": \"{0}\", \"line\": 1, \"column\": 26, \"end_line\": 1, \"end_column\": 34, \"message\": \"unknown element class 'Nonesuch'",
        bad.display()
    );
    assert!(json.contains(&bad_entry), "{bad_entry} in {json}");
    // The rendered text is what `sluice check` prints, caret line included.
    let plain = sluice(&["check", bad.to_str().unwrap()]);
    let plain = String::from_utf8(plain.stderr).unwrap();
    let (rendered, summary) = plain.trim_end().rsplit_once('\n').unwrap();
    assert_eq!(summary, "1 error found");
    let rendered = format!("{rendered}\n")
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    assert!(json.contains(&rendered), "{rendered} in {json}");
    assert!(
        json.contains("{\"message\": \"/nonexistent/x.click: No such file or directory\""),
        "{json}"
    );
}

#[test]
fn completions_cover_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = sluice(&["completions", shell]);
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for cmd in [
            "check", "doc", "run", "build", "boot", "deploy", "ps", "stop", "ctl", "logs", "bench",
            "replay",
        ] {
            assert!(script.contains(cmd), "{shell} completion lacks {cmd}");
        }
    }
    let bad = sluice(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "a bad command line");
}

#[test]
fn libraries_are_read_where_required_once_each_relative_to_their_file() {
    // The layout of Click's test/standard/library-01.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("dir")).unwrap();
    let main = write(
        &dir,
        "main",
        "require(library lib, library lib3)\na :: A;\n",
    );
    write(
        &dir,
        "lib",
        "require(library dir/lib2)\nelementclass A { b :: B; }\n",
    );
    write(&dir, "dir/lib2", "elementclass B { i :: Idle; }\n");
    write(&dir, "lib3", "require(library lib)\n");
    let out = sluice(&["flatten", main.to_str().unwrap()]);
    let flat = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        flat.lines()
            .filter(|l| !l.starts_with("//"))
            .collect::<Vec<_>>(),
        ["a/b/i :: Idle;"],
        "{flat}"
    );

    // A library that is not there, and one required inside a compound, are errors at the
    // `require`.
    let bad = write(&dir, "bad", "Idle -> Discard;\nrequire(library nope)\n");
    let out = sluice(&["check", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad:2:1: error: library '")
            && err.contains("nope': No such file or directory"),
        "{err}"
    );
    let inner = write(
        &dir,
        "inner",
        "elementclass X { require(library lib); input -> output }\nIdle -> X -> Discard;\n",
    );
    let out = sluice(&["check", inner.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inner:1:18: error: 'require(library ...)' must be used at file scope"),
        "{err}"
    );

    // An error inside a library points into the library's own text.
    write(
        &dir,
        "broken",
        "elementclass C { input -> Bogus -> output }\n",
    );
    let user = write(
        &dir,
        "user",
        "require(library broken)\nIdle -> C -> Discard;\n",
    );
    let out = sluice(&["check", user.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken:1:27: error: unknown element class 'Bogus'"),
        "{err}"
    );
}
