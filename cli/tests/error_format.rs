//! `sluice run --error-format click`: configuration errors on standard error exactly as
//! Click's userlevel driver prints them.
//!
//! Each expected text is real Click's standard error (kohler/click 9197a59, its userlevel
//! `click` driver) for the command named above it.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

mod common;

/// Runs `sluice run ARGS` with errors in the given layout (`None`: the default, with
/// `SLUICE_ERROR_FORMAT` unset).
fn run(format: Option<&str>, env: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(common::SLUICE);
    cmd.arg("run").env_remove("SLUICE_ERROR_FORMAT");
    if let Some(f) = format {
        cmd.args(["--error-format", f]);
    }
    if let Some(e) = env {
        cmd.env("SLUICE_ERROR_FORMAT", e);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sluice")
}

/// Standard error of a failing `sluice run --error-format click ARGS`.
fn click_stderr(args: &[&str]) -> String {
    let out = run(Some("click"), None, args);
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    common::text(&out.stderr)
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-errfmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn argument_errors_go_under_the_elements_context() {
    // click -e 'Idle -> x :: Counter(BOGUS 1) -> Discard'
    assert_eq!(
        click_stderr(&["-e", "Idle -> x :: Counter(BOGUS 1) -> Discard"]),
        "config:1: While configuring 'x :: Counter':\n  BOGUS: unknown argument\n\
         Router could not be initialized!\n"
    );
}

#[test]
fn several_errors_of_one_element_take_the_declaration_line() {
    // click -f rw.click, rw.click as below
    let file = scratch(
        "rw.click",
        "i :: Idle;\nrw :: IPAddrRewriter(pattern 1.0.0.x - 0 1,\n  \
         pattern 1.255.0.0-1.0.255.255 - 0 1);\ni -> [0]rw; i[1] -> [1]rw;\n\
         rw[0] -> i; rw[1] -> i;\n",
    );
    let name = file.to_str().expect("utf-8 path");
    assert_eq!(
        click_stderr(&["-f", name]),
        format!(
            "{name}:2: While configuring 'rw :: IPAddrRewriter':\n  \
             input spec 0: bad source address\n  input spec 1: bad source address\n\
             Router could not be initialized!\n"
        )
    );
}

#[test]
fn unknown_classes_end_without_the_trailer() {
    // click -e 'Idle -> x :: Bogus -> Discard'
    assert_eq!(
        click_stderr(&["-e", "Idle -> x :: Bogus -> Discard"]),
        "config:1: unknown element class 'Bogus'\n"
    );
}

#[test]
fn connection_errors_use_clicks_wording() {
    // click -e 'Idle -> x :: Counter -> Discard; Idle -> [1]x'
    assert_eq!(
        click_stderr(&["-e", "Idle -> x :: Counter -> Discard; Idle -> [1]x"]),
        "config:1: 'x :: Counter' has no input 1\nRouter could not be initialized!\n"
    );
    // click -e 'Idle -> x :: Counter -> Discard; x -> Idle'
    assert_eq!(
        click_stderr(&["-e", "Idle -> x :: Counter -> Discard; x -> Idle"]),
        "config:1: illegal reuse of 'x :: Counter' push output 0\n\
         Router could not be initialized!\n"
    );
    // click -e 'x :: Idle; y :: Counter'
    assert_eq!(
        click_stderr(&["-e", "x :: Idle; y :: Counter"]),
        "config:1: 'y :: Counter' input 0 unused\nconfig:1: 'y :: Counter' output 0 unused\n\
         Router could not be initialized!\n"
    );
}

#[test]
fn initialization_errors_say_while_initializing() {
    // click -e 'FromDump(/nonexistent) -> Discard'
    assert_eq!(
        click_stderr(&["-e", "FromDump(/nonexistent) -> Discard"]),
        "config:1: While initializing 'FromDump@1 :: FromDump':\n  \
         /nonexistent: No such file or directory\nRouter could not be initialized!\n"
    );
}

#[test]
fn redeclarations_name_both_places_after_line_directives() {
    // cpp A | click, with A: `\nx :: Idle;\n#include "B"\n` and B: `x :: Idle;`
    let piped = "# 1 \"A\"\n\nx :: Idle;\n# 1 \"B\" 1\nx :: Idle;\n# 4 \"A\" 2\nx -> Discard;\n";
    let file = scratch("piped.click", piped);
    assert_eq!(
        click_stderr(&[file.to_str().expect("utf-8 path")]),
        "B:1: redeclaration of element 'x'\nA:2: element 'x' previously declared here\n"
    );
}

#[test]
fn the_environment_chooses_the_layout_and_sluices_stays_the_default() {
    let config = ["-e", "Idle -> x :: Counter(BOGUS 1) -> Discard"];
    let by_env = run(None, Some("click"), &config);
    assert!(
        common::text(&by_env.stderr).starts_with("config:1: While configuring 'x :: Counter':\n"),
        "{}",
        common::text(&by_env.stderr)
    );
    let default = common::text(&run(None, None, &config).stderr);
    assert!(
        default.starts_with("<expr>:1:22: error: x :: Counter: unknown keyword argument 'BOGUS'"),
        "{default}"
    );
    let bad = run(Some("gcc"), None, &config);
    assert_eq!(bad.status.code(), Some(2));
    assert!(common::text(&bad.stderr).contains("--error-format"));
}
