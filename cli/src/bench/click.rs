//! `sluice bench click DIR|FILE… [--click PATH]`: Click configurations, run unchanged, side by
//! side with Click.
//!
//! Each configuration is run as a whole process, exactly as users run it: `sluice run FILE`
//! (this same binary) and, with `--click`, `click FILE` (Click's userlevel driver). The runs
//! alternate (sluice, Click, sluice, Click, …) so both see the same machine, and each runs in
//! a fresh scratch directory, which is where the configuration's `DriverManager` writes its
//! `stats.txt`. The packet count is the first `NAME=N` line of that file (the configurations
//! of `benches/click` write `src.count=N`); the rate is that count over the process's wall
//! time, start to exit, so parsing, router construction and teardown are in it as they are
//! for Click. The table reports the median of `--runs` runs and Click-relative ratios; a run
//! that fails, times out or counts differently from the other system is reported, not
//! averaged in.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::stats::Summary;
use super::{print_table, progress, Json};

/// Arguments of `sluice bench click`.
#[derive(Debug, clap::Args)]
pub struct ClickBenchArgs {
    /// Configurations: `.click` files, or directories whose `.click` files are all run
    /// (in name order).
    #[arg(required = true, value_name = "DIR|FILE")]
    pub configs: Vec<PathBuf>,
    /// Click's userlevel driver, to run every configuration beside sluice.
    #[arg(long, value_name = "PATH")]
    pub click: Option<PathBuf>,
    /// Runs of each configuration on each system; the table reports the median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub runs: u32,
    /// Only the configurations whose file stem contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub only: Vec<String>,
    /// Longest one run may take before it is stopped and counted as failed.
    #[arg(long, default_value = "300s", value_parser = crate::vm::state::parse_duration)]
    pub timeout: Duration,
    /// Print the results as JSON (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One whole-process run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// Wall time from spawn to exit, seconds.
    pub secs: f64,
    /// The count the configuration wrote, if it wrote one.
    pub packets: Option<u64>,
}

/// What one system did with one configuration.
#[derive(Debug, Default)]
struct Outcome {
    runs: Vec<RunResult>,
    /// Why a run failed (the first failure).
    failure: Option<String>,
}

impl Outcome {
    fn summary(&self) -> Option<Summary> {
        let secs: Vec<f64> = self.runs.iter().map(|r| r.secs).collect();
        Summary::of(&secs)
    }

    fn median_secs(&self) -> Option<f64> {
        self.summary().map(|s| s.median)
    }

    /// `median (min-max)` seconds, as a table cell.
    fn secs_cell(&self) -> String {
        cell(
            self,
            self.summary().map(|s| match s.n {
                1 => format!("{:.3}", s.median),
                _ => format!("{:.3} ({:.3}-{:.3})", s.median, s.min, s.max),
            }),
        )
    }

    /// The count, if every run wrote the same one.
    fn packets(&self) -> Option<u64> {
        let first = self.runs.first()?.packets?;
        self.runs
            .iter()
            .all(|r| r.packets == Some(first))
            .then_some(first)
    }

    /// Million packets per second at the median wall time.
    fn mpps(&self) -> Option<f64> {
        Some(self.packets()? as f64 / self.median_secs()? / 1e6)
    }
}

pub fn run(args: &ClickBenchArgs) -> Result<(), String> {
    let configs = collect_configs(&args.configs, &args.only)?;
    if configs.is_empty() {
        return Err("no .click configurations matched".into());
    }
    let sluice = std::env::current_exe().map_err(|e| format!("cannot find sluice itself: {e}"))?;
    if let Some(click) = &args.click {
        if !click.is_file() {
            return Err(format!("{}: no such Click driver", click.display()));
        }
    }
    let mut rows = Vec::new();
    for config in &configs {
        let name = stem(config);
        let mut ours = Outcome::default();
        let mut theirs = Outcome::default();
        for i in 0..args.runs {
            super::check_interrupt()?;
            progress(format!("{name}: run {} of {}", i + 1, args.runs));
            record(
                &mut ours,
                run_once(
                    Command::new(&sluice).arg("run").arg(config),
                    args.timeout,
                    &name,
                ),
            );
            if let Some(click) = &args.click {
                record(
                    &mut theirs,
                    run_once(Command::new(click).arg(config), args.timeout, &name),
                );
            }
        }
        rows.push((name, ours, theirs));
    }
    if args.json {
        print_json(&rows, args.click.is_some());
    } else {
        print_rows(&rows, args.click.is_some(), args.runs);
    }
    Ok(())
}

fn record(outcome: &mut Outcome, result: Result<RunResult, String>) {
    match result {
        Ok(r) => outcome.runs.push(r),
        Err(e) => {
            outcome.failure.get_or_insert(e);
        }
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// The `.click` files named or inside the directories named, filtered by `only`.
fn collect_configs(paths: &[PathBuf], only: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "click"))
                .collect();
            files.sort();
            out.extend(files);
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(format!("{}: no such file or directory", path.display()));
        }
    }
    if !only.is_empty() {
        out.retain(|p| only.iter().any(|o| stem(p).contains(o.as_str())));
    }
    // Absolute, since each run's working directory is its scratch directory.
    out.iter()
        .map(|p| std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect()
}

/// Runs `command` in a fresh scratch directory and times it, start to exit.
fn run_once(command: &mut Command, timeout: Duration, name: &str) -> Result<RunResult, String> {
    let dir = Scratch::new(name)?;
    let start = Instant::now();
    let mut child = command
        .current_dir(&dir.0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "did not finish within {:.0} s",
                timeout.as_secs_f64()
            ));
        }
        if super::check_interrupt().is_err() {
            let _ = child.kill();
            let _ = child.wait();
            return Err("interrupted".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let secs = start.elapsed().as_secs_f64();
    if !status.success() {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(format!("exited with {status}: {last}"));
    }
    let packets = std::fs::read_to_string(dir.0.join("stats.txt"))
        .ok()
        .and_then(|s| first_count(&s));
    Ok(RunResult { secs, packets })
}

/// The number of the first `NAME=N` line.
pub fn first_count(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (_, v) = l.split_once('=')?;
        v.trim().parse().ok()
    })
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Result<Scratch, String> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "sluice-bench-click-{}-{n}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fmt_opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// A cell: the figure (marked `*` when some run failed), or why there is none.
fn cell(o: &Outcome, figure: Option<String>) -> String {
    match (figure, &o.failure) {
        (Some(x), None) => x,
        (Some(x), Some(_)) => x + "*",
        (None, Some(_)) => "failed".into(),
        (None, None) => "-".into(),
    }
}

fn print_rows(rows: &[(String, Outcome, Outcome)], with_click: bool, runs: u32) {
    let mut table = vec![if with_click {
        vec![
            "config".into(),
            "packets".into(),
            "sluice s (min-max)".into(),
            "Click s (min-max)".into(),
            "sluice Mpps".into(),
            "Click Mpps".into(),
            "ratio".into(),
        ]
    } else {
        vec![
            "config".into(),
            "packets".into(),
            "sluice s (min-max)".into(),
            "sluice Mpps".into(),
        ]
    }];
    let mut notes = Vec::new();
    for (name, ours, theirs) in rows {
        let packets = ours.packets().map_or("-".into(), |p| p.to_string());
        let mut row = vec![name.clone(), packets, ours.secs_cell()];
        if with_click {
            row.push(theirs.secs_cell());
        }
        row.push(cell(ours, ours.mpps().map(|x| format!("{x:.2}"))));
        if with_click {
            row.push(cell(theirs, theirs.mpps().map(|x| format!("{x:.2}"))));
            let ratio = match (ours.median_secs(), theirs.median_secs()) {
                (Some(a), Some(b)) if ours.packets() == theirs.packets() => Some(b / a),
                _ => None,
            };
            row.push(fmt_opt(ratio, 2) + if ratio.is_some() { "x" } else { "" });
            if ours.packets().is_some() && ours.packets() != theirs.packets() {
                notes.push(format!(
                    "{name}: sluice counted {:?}, Click {:?}",
                    ours.packets(),
                    theirs.packets()
                ));
            }
        }
        table.push(row);
        for (who, o) in [("sluice", ours), ("Click", theirs)] {
            if let Some(e) = &o.failure {
                notes.push(format!("{name}: {who}: {e}"));
            }
        }
    }
    print_table(
        &format!(
            "Whole-process wall time in seconds, median of {runs} runs; Mpps at the median; \
             ratio = Click's time / sluice's"
        ),
        &table,
    );
    for n in notes {
        println!("  note: {n}");
    }
}

fn outcome_json(o: &Outcome) -> Json {
    Json::obj([
        (
            "secs",
            Json::nums(&o.runs.iter().map(|r| r.secs).collect::<Vec<_>>()),
        ),
        (
            "packets",
            o.packets().map_or(Json::Null, |p| Json::num(p as f64)),
        ),
        ("summary", super::stats::json_or_null(o.summary())),
        ("mpps", o.mpps().map_or(Json::Null, Json::num)),
        (
            "failure",
            o.failure
                .as_ref()
                .map_or(Json::Null, |e| Json::str(e.clone())),
        ),
    ])
}

fn print_json(rows: &[(String, Outcome, Outcome)], with_click: bool) {
    let items = rows
        .iter()
        .map(|(name, ours, theirs)| {
            Json::obj([
                ("config", Json::str(name.clone())),
                ("sluice", outcome_json(ours)),
                (
                    "click",
                    if with_click {
                        outcome_json(theirs)
                    } else {
                        Json::Null
                    },
                ),
            ])
        })
        .collect();
    println!("{}", Json::Arr(items));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_the_first_assignment() {
        assert_eq!(first_count("src.count=10000000\n"), Some(10_000_000));
        assert_eq!(first_count("junk\nc.count = 42\nd.count=7"), Some(42));
        assert_eq!(first_count("src.count=\n"), None);
        assert_eq!(first_count(""), None);
    }

    #[test]
    fn rates_need_a_count_every_run_agrees_on() {
        let mut o = Outcome::default();
        o.runs.push(RunResult {
            secs: 2.0,
            packets: Some(10),
        });
        o.runs.push(RunResult {
            secs: 1.0,
            packets: Some(10),
        });
        assert_eq!(o.mpps(), Some(10.0 / 1.5 / 1e6));
        o.runs.push(RunResult {
            secs: 1.0,
            packets: Some(9),
        });
        assert_eq!(o.packets(), None);
        assert_eq!(o.mpps(), None);
    }
}
