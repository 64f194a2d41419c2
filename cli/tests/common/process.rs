//! A `sluice run` process under test, and a scratch folder for its files: both cleaned up
//! when they drop, also when an assertion fails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::SLUICE;

/// How long to wait for a process to get somewhere before failing the test.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A scratch folder of this test's own, removed afterwards.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh folder named after the test binary's `what` and this process.
    pub fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sluice-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `contents` to the file `name` in the folder.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// The path of `name` in the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `sluice run --quiet ARGS`, killed on drop.
pub struct Run(Option<Child>);

fn read_all(pipe: Option<impl Read>) -> String {
    let mut s = String::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_string(&mut s).unwrap();
    }
    s
}

impl Run {
    pub fn start(args: &[&str]) -> Run {
        let child = Command::new(SLUICE)
            .arg("run")
            .arg("--quiet")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice run");
        Run(Some(child))
    }

    /// Waits for the process to exit (it was told to stop); returns its status, standard
    /// output and standard error.
    pub fn wait(mut self) -> (ExitStatus, String, String) {
        let mut child = self.0.take().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let out = read_all(child.stdout.take());
                let err = read_all(child.stderr.take());
                return (status, out, err);
            }
            if start.elapsed() > PATIENCE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sluice run did not stop");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Fails the test with the process's standard error if it already exited.
    pub fn check_alive(&mut self) {
        let child = self.0.as_mut().unwrap();
        if let Some(status) = child.try_wait().unwrap() {
            let err = read_all(child.stderr.take());
            panic!("sluice run exited ({status}): {err}");
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `path` exists (the socket is listening, or a file was written).
pub fn wait_for_file(run: &mut Run, path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        run.check_alive();
        assert!(
            start.elapsed() < PATIENCE,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
