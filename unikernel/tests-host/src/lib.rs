//! Runs the sluice unikernel under QEMU from the host: builds the image, boots it on a
//! `microvm` machine with TCG, timestamps every serial line and reports how the VM ended.
//!
//! The exit statuses mirror `sluice_unikernel::exit::ExitCode`: QEMU's `isa-debug-exit` turns
//! the guest's code `c` into status `(c << 1) | 1`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// QEMU status for `ExitCode::Success`.
pub const STATUS_SUCCESS: i32 = 1;
/// QEMU status for `ExitCode::Failure`.
pub const STATUS_FAILURE: i32 = 3;
/// QEMU status for `ExitCode::Panic`.
pub const STATUS_PANIC: i32 = 5;
/// QEMU status for `ExitCode::Exception`.
pub const STATUS_EXCEPTION: i32 = 7;

/// The unikernel crate's folder.
pub fn unikernel_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests-host sits in unikernel/")
        .into()
}

/// Builds the kernel image (once per process) and returns its path.
pub fn kernel_image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = unikernel_dir();
        let target_dir = dir.join("target");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--target-dir"])
            .arg(&target_dir)
            .current_dir(&dir)
            // The kernel's own .cargo/config.toml decides target and flags.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .expect("run cargo build for the unikernel");
        assert!(status.success(), "building the unikernel failed: {status}");
        target_dir.join("x86_64-unknown-none/release/sluice-unikernel")
    })
}

/// The host's TSC frequency in kHz, measured once against the monotonic clock.
///
/// A guest's TSC ticks at the host's rate (under TCG RDTSC returns the host's TSC), so this is
/// the `tsc_khz=` a launcher passes on the kernel command line.
pub fn host_tsc_khz() -> u64 {
    static KHZ: OnceLock<u64> = OnceLock::new();
    *KHZ.get_or_init(|| measure_tsc_khz(Duration::from_millis(50)))
}

fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter, which user space may read on Linux.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
}

/// Counts TSC ticks across `window` of monotonic time.
pub fn measure_tsc_khz(window: Duration) -> u64 {
    let start = Instant::now();
    let start_tsc = rdtsc();
    while start.elapsed() < window {
        std::hint::spin_loop();
    }
    let ticks = rdtsc() - start_tsc;
    let elapsed = start.elapsed();
    (ticks as f64 / elapsed.as_secs_f64() / 1000.0).round() as u64
}

/// One QEMU run to make.
#[derive(Debug, Clone)]
pub struct Boot {
    /// Kernel command line.
    pub cmdline: String,
    /// Guest memory (`-m`).
    pub memory: String,
    /// Extra `-machine microvm` options, e.g. `pit=on` (replacing `pit=off`).
    pub pit: bool,
    /// Extra QEMU arguments (devices).
    pub extra_args: Vec<String>,
    /// Stop the VM as soon as a line containing this appears.
    pub stop_at: Option<String>,
    /// Kill the VM after this long.
    pub timeout: Duration,
}

impl Boot {
    /// A boot with `cmdline` plus `tsc_khz=<host>`, 8 MiB, no PIT, 20 s timeout.
    pub fn new(cmdline: &str) -> Self {
        Self {
            cmdline: format!("tsc_khz={} {cmdline}", host_tsc_khz()),
            memory: "8M".into(),
            pit: false,
            extra_args: Vec::new(),
            stop_at: None,
            timeout: Duration::from_secs(20),
        }
    }

    /// The same command line, without `tsc_khz=`.
    pub fn without_tsc_khz(mut self) -> Self {
        self.cmdline = self
            .cmdline
            .split_whitespace()
            .filter(|p| !p.starts_with("tsc_khz="))
            .collect::<Vec<_>>()
            .join(" ");
        self
    }

    pub fn memory(mut self, memory: &str) -> Self {
        self.memory = memory.into();
        self
    }

    pub fn with_pit(mut self) -> Self {
        self.pit = true;
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    pub fn stop_at(mut self, marker: &str) -> Self {
        self.stop_at = Some(marker.into());
        self
    }

    /// The QEMU command for this boot.
    pub fn command(&self) -> Command {
        let machine = format!(
            "microvm,x-option-roms=off,pit={},pic=off,rtc=off,acpi=off",
            if self.pit { "on" } else { "off" }
        );
        let mut command = Command::new("qemu-system-x86_64");
        command
            .args(["-accel", "tcg", "-machine", &machine])
            .args([
                "-nodefaults",
                "-no-user-config",
                "-no-reboot",
                "-m",
                &self.memory,
            ])
            .arg("-kernel")
            .arg(kernel_image())
            .args(["-append", &self.cmdline])
            .args(["-display", "none", "-serial", "stdio"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Boots and waits for the VM to exit, to print the `stop_at` marker, or for the timeout.
    pub fn run(&self) -> Outcome {
        let image = kernel_image();
        assert!(image.exists(), "no kernel image at {}", image.display());
        let mut command = self.command();
        let started = Instant::now();
        let mut child = command.spawn().expect("start qemu-system-x86_64");
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines_tx, lines_rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let line = line.trim_end_matches('\r').to_owned();
                if lines_tx.send((started.elapsed(), line)).is_err() {
                    break;
                }
            }
        });

        let mut lines = Vec::new();
        let mut stopped = None;
        let status = loop {
            while let Ok(line) = lines_rx.try_recv() {
                let hit = self
                    .stop_at
                    .as_deref()
                    .is_some_and(|marker| line.1.contains(marker));
                lines.push(line);
                if hit && stopped.is_none() {
                    stopped = Some(Stop::Marker);
                }
            }
            if let Some(status) = child.try_wait().expect("wait for qemu") {
                break Some((status, started.elapsed()));
            }
            if started.elapsed() > self.timeout {
                stopped = Some(Stop::Timeout);
            }
            if stopped.is_some() {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_micros(200));
        };
        let _ = reader.join();
        lines.extend(lines_rx.try_iter());
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut stderr);
        }
        Outcome {
            status: status.and_then(|(s, _)| s.code()),
            exited_after: status.map(|(_, t)| t),
            timed_out: stopped == Some(Stop::Timeout),
            lines,
            stderr,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Marker,
    Timeout,
}

/// How a boot ended and what it printed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// QEMU's exit status, if it exited by itself.
    pub status: Option<i32>,
    /// Time from spawning QEMU to its exit, if it exited by itself.
    pub exited_after: Option<Duration>,
    pub timed_out: bool,
    /// Serial lines with the time since spawning QEMU at which each arrived.
    pub lines: Vec<(Duration, String)>,
    pub stderr: String,
}

impl Outcome {
    /// All serial output, for assertion messages.
    pub fn output(&self) -> String {
        let mut text: String = self
            .lines
            .iter()
            .map(|(_, line)| format!("{line}\n"))
            .collect();
        if !self.stderr.is_empty() {
            text.push_str("--- qemu stderr ---\n");
            text.push_str(&self.stderr);
        }
        text
    }

    /// The first line containing `marker`, with its arrival time.
    pub fn line(&self, marker: &str) -> Option<(Duration, &str)> {
        self.lines
            .iter()
            .find(|(_, line)| line.contains(marker))
            .map(|(t, l)| (*t, l.as_str()))
    }

    /// The ready line's fields, `key=value` (units stripped from `us` values).
    pub fn ready(&self) -> Option<ReadyLine> {
        let (arrived, line) = self.line("ready entry->ready=")?;
        Some(ReadyLine {
            arrived,
            text: line.to_owned(),
        })
    }
}

/// The kernel's `ready ...` line.
#[derive(Debug, Clone)]
pub struct ReadyLine {
    /// When the line reached the host, since QEMU was spawned.
    pub arrived: Duration,
    pub text: String,
}

impl ReadyLine {
    /// The value of `key=` in the line.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.text
            .split_whitespace()
            .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
    }

    /// A `<n>us` field as a duration.
    pub fn micros(&self, key: &str) -> Option<Duration> {
        let value = self.field(key)?.strip_suffix("us")?;
        value.parse().ok().map(Duration::from_micros)
    }
}

/// The median of a non-empty slice of durations.
pub fn median(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}
