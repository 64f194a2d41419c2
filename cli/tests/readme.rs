//! The README's commands, run as written: every fenced `sh` block of README.md, in order, in
//! one `bash -euo pipefail` session, as a newcomer copies them, so the README and the tool
//! cannot drift apart. A command that fails fails the test.
//!
//! NOT RUN: blocks marked `<!-- readme-test: skip: why -->` on the line before them. Those are
//! the quick start's two long commands (`scripts/demo`, `scripts/test`, which run themselves)
//! and `cargo install` (a release build into `~/.cargo/bin`; here the `sluice` under test is
//! put on `PATH` instead). Any other skipped block fails the test, so nothing is left out
//! quietly, and the test prints every block it leaves out.
//!
//! The session runs in a scratch folder that holds a copy of `scenarios/`, as the top of a
//! checkout does, with a runtime folder of its own (`XDG_RUNTIME_DIR`), so the VMs it boots
//! are its alone. Whatever happens, every VM is stopped afterwards and every network
//! namespace and TAP device the README's commands create (`ip netns add NAME`, `ip tuntap add
//! dev NAME`) is removed. The commands must leave `scenarios/` as they found it.
//!
//! Needs root (the TAP walk-through) and QEMU; CI has both.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{is_root, require_qemu, text, SLUICE};

/// The most the README's commands may take, all together.
const BUDGET: Duration = Duration::from_secs(110);

/// The blocks the test may leave out, by their first command line.
const MAY_SKIP: [&str; 2] = ["scripts/demo", "cargo install --path cli --locked"];

/// One fenced `sh` block.
#[derive(Debug)]
struct Block {
    /// Line of the opening fence, from 1.
    line: usize,
    text: String,
    /// Why it is left out, if it is.
    skip: Option<String>,
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every ```` ```sh ```` block, with the skip marker of the line before it.
fn sh_blocks(readme: &str) -> Vec<Block> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() != "```sh" {
            i += 1;
            continue;
        }
        let skip = i
            .checked_sub(1)
            .and_then(|p| lines[p].trim().strip_prefix("<!-- readme-test: skip:"))
            .map(|r| r.trim_end_matches("-->").trim().to_string());
        let start = i;
        i += 1;
        let mut body = String::new();
        while i < lines.len() && lines[i].trim_end() != "```" {
            body.push_str(lines[i]);
            body.push('\n');
            i += 1;
        }
        assert!(
            i < lines.len(),
            "README.md:{}: unclosed ```sh block",
            start + 1
        );
        blocks.push(Block {
            line: start + 1,
            text: body,
            skip,
        });
        i += 1;
    }
    blocks
}

/// The commands of a block: its lines that are neither blank nor comments, without their
/// trailing comments.
fn commands(block: &Block) -> Vec<&str> {
    block
        .text
        .lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// The names the commands give after `words` (`ip netns add NAME`).
fn names_after(script: &str, words: &str) -> BTreeSet<String> {
    script
        .match_indices(words)
        .filter_map(|(at, _)| script[at + words.len()..].split_whitespace().next())
        .map(String::from)
        .collect()
}

/// Undoes what the README's commands may leave behind, on success and on failure.
struct Cleanup {
    runtime: PathBuf,
    netns: BTreeSet<String>,
    taps: BTreeSet<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new(SLUICE)
            .args(["stop", "--all"])
            .env("XDG_RUNTIME_DIR", &self.runtime)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        for ns in &self.netns {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        for tap in &self.taps {
            let _ = Command::new("ip")
                .args(["link", "del", tap])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The files under `dir`, with their contents.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            if e.file_name() != "__pycache__" {
                copy_dir(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// How the session starts: any failing command, also inside a pipeline, ends it with that
/// command's status.
const PRELUDE: &str = "set -euo pipefail\n";

/// Runs `script` in bash in `dir`, with the `sluice` under test first on `PATH` and
/// `runtime` as `XDG_RUNTIME_DIR`; killed after [`BUDGET`]. Returns the exit status (`None`:
/// it ran out of time) and standard output and error together, in order.
fn session(script: &str, dir: &Path, runtime: &Path) -> (Option<std::process::ExitStatus>, String) {
    let bin = Path::new(SLUICE).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = dir.join(".session.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", path)
        .env("XDG_RUNTIME_DIR", runtime)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("bash");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > BUDGET {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    (status, out)
}

/// The session really fails when a command does: a failing command, a failing stage of a
/// pipeline, an unset variable; and the sluice it finds is the one under test.
#[test]
fn a_failing_command_fails_the_session() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "false",
        "sluice check missing.click | cat",
        "echo $UNSET_VARIABLE",
    ] {
        let (status, out) = session(
            &format!("{PRELUDE}{bad}\necho after\n"),
            dir.path(),
            dir.path(),
        );
        let status = status.expect("within the budget");
        assert!(!status.success(), "{bad}: {out}");
        assert!(!out.contains("after"), "{bad}: {out}");
    }
    let (status, out) = session(
        &format!("{PRELUDE}command -v sluice\n"),
        dir.path(),
        dir.path(),
    );
    assert!(status.is_some_and(|s| s.success()), "{out}");
    assert_eq!(Path::new(out.trim()), Path::new(SLUICE));
}

/// The quick start stays what its heading promises: two commands, the demo and the tests.
#[test]
fn the_quick_start_is_two_commands() {
    let readme = readme();
    let quick = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("a Quick start section");
    let blocks = sh_blocks(quick);
    assert_eq!(blocks.len(), 1, "one sh block in the quick start");
    let words: Vec<&str> = commands(&blocks[0])
        .iter()
        .map(|c| c.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(words, ["scripts/demo", "scripts/test"]);
    for script in ["demo", "test"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scripts")
            .join(script);
        let check = Command::new("bash").arg("-n").arg(&path).output().unwrap();
        assert!(
            check.status.success(),
            "{}: {}",
            path.display(),
            text(&check.stderr)
        );
    }
}

#[test]
#[ignore = "needs root and QEMU: the VM tier, run by scripts/test (cargo test -- --include-ignored)"]
fn every_readme_command_works_as_written() {
    require_qemu("the README's commands");
    assert!(
        is_root(),
        "the README's TAP walk-through creates TAP devices and network namespaces: run this \
         test as root (CI does)"
    );
    let blocks = sh_blocks(&readme());
    let mut script = String::from(PRELUDE);
    for b in &blocks {
        match &b.skip {
            Some(why) => {
                let first = commands(b).first().copied().unwrap_or("");
                eprintln!(
                    "README TEST: NOT RUN: the sh block at README.md:{} ({why}):\n{}",
                    b.line, b.text
                );
                assert!(
                    MAY_SKIP.contains(&first),
                    "README.md:{}: only the quick start and `cargo install` may be skipped, \
                     not `{first}`",
                    b.line
                );
            }
            None => {
                script.push_str(&format!("echo '+++ README.md:{} +++'\n", b.line));
                script.push_str(&b.text);
            }
        }
    }
    let run = blocks.iter().filter(|b| b.skip.is_none()).count();
    assert!(
        run > blocks.len() - run,
        "most of the README's blocks run: {blocks:#?}"
    );

    let scratch = tempfile::tempdir().unwrap();
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    copy_dir(
        &checkout.join("scenarios"),
        &scratch.path().join("scenarios"),
    );
    let before = snapshot(&scratch.path().join("scenarios"));
    let runtime = scratch.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let netns = names_after(&script, "ip netns add ");
    let taps = names_after(&script, "ip tuntap add dev ");
    let existing = text(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    );
    for ns in &netns {
        assert!(
            !existing
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns)),
            "network namespace {ns} exists already; remove it (ip netns del {ns}) and rerun"
        );
    }
    let links = text(
        &Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    );
    for tap in &taps {
        assert!(
            !links.contains(&format!(": {tap}:")),
            "device {tap} exists already; remove it (ip link del {tap}) and rerun"
        );
    }
    let _cleanup = Cleanup {
        runtime: runtime.clone(),
        netns,
        taps,
    };

    let start = Instant::now();
    let (status, out) = session(&script, scratch.path(), &runtime);
    println!("{out}");
    let status =
        status.unwrap_or_else(|| panic!("the README's commands took over {BUDGET:?}:\n{out}"));
    assert!(
        status.success(),
        "a README command failed ({status}); the last block it started is the last \
         '+++ README.md:N +++' line:\n{out}"
    );
    println!(
        "the README's commands took {:.1} s",
        start.elapsed().as_secs_f64()
    );
    // Outputs go where the commands say, never into the scenarios' folders.
    assert!(
        snapshot(&scratch.path().join("scenarios")) == before,
        "the README's commands changed files under scenarios/"
    );
}
