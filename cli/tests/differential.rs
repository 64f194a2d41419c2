//! Golden files from real Click: every `scenarios/differential/NAME.click` is run by `sluice
//! run --simtime` in a scratch directory with `DIR=<that folder>`, as `scripts/click-diff`
//! runs Click;
//! what it prints (standard output, then standard error) must equal `NAME.expected`, and the
//! capture files it writes must equal, byte for byte, those Click wrote (`NAME.out/`), no more
//! and no fewer (see that folder's README for the Click commit and command). A missing
//! expected file fails the test, so a configuration cannot be added without its oracle.

use std::path::Path;
use std::process::Command;

#[test]
fn sluice_prints_what_click_printed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/differential");
    let mut configs: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenarios/differential")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "click"))
        .collect();
    configs.sort();
    assert!(
        !configs.is_empty(),
        "no configurations in {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for config in &configs {
        let expected_path = config.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (write it with scripts/click-diff --update)",
                expected_path.display()
            )
        });
        let scratch = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["run", "--simtime"])
            .arg(config)
            .arg(format!("DIR={}", dir.display()))
            .current_dir(scratch.path())
            .output()
            .unwrap();
        let got = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if got != expected {
            let first = got
                .lines()
                .zip(expected.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| got.lines().count().min(expected.lines().count()));
            failures.push(format!(
                "{}: differs from Click at line {}:\n  click:  {:?}\n  sluice: {:?}",
                config.display(),
                first + 1,
                expected.lines().nth(first),
                got.lines().nth(first)
            ));
        }
        failures.extend(compare_captures(
            &config.with_extension("out"),
            scratch.path(),
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Differences between the captures Click wrote (`expected`, absent when it wrote none) and
/// those sluice wrote (`got`).
fn compare_captures(expected: &Path, got: &Path) -> Vec<String> {
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let (want, have) = (names(expected), names(got));
    if want != have {
        return vec![format!(
            "{}: Click wrote {want:?}, sluice wrote {have:?}",
            expected.display()
        )];
    }
    let mut failures = Vec::new();
    for name in want {
        let (a, b) = (
            std::fs::read(expected.join(&name)).unwrap(),
            std::fs::read(got.join(&name)).unwrap(),
        );
        if a != b {
            let at = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            failures.push(format!(
                "{}/{name}: differs from Click's at byte {at} (Click {} bytes, sluice {})",
                expected.display(),
                a.len(),
                b.len()
            ));
        }
    }
    failures
}
