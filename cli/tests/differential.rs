//! Golden files from real Click: every `scenarios/differential/NAME.click` with a
//! `NAME.expected` is run by `sluice run` from that folder, and what it prints (standard
//! output, then standard error) must equal what Click printed (see that folder's README for
//! the Click commit and command). A missing expected file fails the test, so a configuration
//! cannot be added without its oracle.

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
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("run")
            .arg(config)
            .current_dir(&dir)
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
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
