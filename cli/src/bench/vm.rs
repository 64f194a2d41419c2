//! VMs for the measurements, started with `sluice boot --detach` and stopped by their guard.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::vm::ctl::{self, Request};
use crate::vm::state::{pid_alive, runtime_dir, signal, VmRecord};

use super::traffic::Nics;

/// How to start a VM.
#[derive(Debug, Clone)]
pub struct Launch {
    pub image: PathBuf,
    /// QEMU `-m` value.
    pub mem: String,
    pub accel: String,
    /// `sluice boot --machine`.
    pub machine: String,
    /// `sluice boot --idle`.
    pub idle: String,
    pub ready_timeout: Duration,
}

/// A launcher still starting its VM. Dropping it before [`Pending::poll`] returns the VM
/// stops both.
pub struct Pending {
    name: String,
    control: PathBuf,
    child: Option<Child>,
    spawned: Instant,
}

/// A running VM; dropping it kills QEMU and removes its record, socket and log.
#[derive(Debug)]
pub struct BenchVm {
    pub name: String,
    pub control: PathBuf,
    /// QEMU's process id.
    pub pid: u32,
    pub accel: String,
    /// The launcher's own measure, from its start to the guest's ready line (ms).
    pub launcher_ms: f64,
    /// The guest's measure, from kernel entry to ready (µs).
    pub entry_us: Option<f64>,
    /// From spawning `sluice boot` to its return once the VM is ready (ms).
    pub command_ms: f64,
    /// The guest's boot checkpoints (`serial`, `gdt`, ..., `router`): µs since kernel entry.
    pub checkpoints: Vec<(String, f64)>,
}

/// A name unique to this process.
pub fn unique_name(what: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!(
        "bench{}-{what}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

impl Launch {
    /// Starts `sluice boot --detach` for a VM called `name` with `nics`.
    pub fn spawn(&self, name: &str, nics: &Nics) -> Result<Pending, String> {
        self.spawn_in(None, name, &nics.specs())
    }

    /// Starts `sluice boot --detach` for a VM called `name` with the `--nic` specifications
    /// `nics`, inside network namespace `netns` when given (`ip netns exec NETNS sluice
    /// boot ...`: QEMU then opens `tap:` NICs there).
    pub fn spawn_in(
        &self,
        netns: Option<&str>,
        name: &str,
        nics: &[String],
    ) -> Result<Pending, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find sluice itself: {e}"))?;
        let dir = runtime_dir().map_err(|e| format!("runtime directory: {e}"))?;
        let control = dir.join(format!("{name}.ctl"));
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        command
            .arg("boot")
            .arg(&self.image)
            .args(["--detach", "--name", name, "--mem", &self.mem])
            .args(["--accel", &self.accel])
            .args(["--machine", &self.machine])
            .args(["--idle", &self.idle])
            .arg("--control")
            .arg(&control)
            .arg("--ready-timeout")
            .arg(format!("{}ms", self.ready_timeout.as_millis()));
        for spec in nics {
            command.args(["--nic", spec]);
        }
        let spawned = Instant::now();
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start sluice boot: {e}"))?;
        Ok(Pending {
            name: name.into(),
            control,
            child: Some(child),
            spawned,
        })
    }

    /// Starts a VM and waits until it is ready.
    pub fn start(&self, name: &str, nics: &Nics) -> Result<BenchVm, String> {
        self.start_in(None, name, &nics.specs())
    }

    /// [`Launch::spawn_in`], then waits until the VM is ready.
    pub fn start_in(
        &self,
        netns: Option<&str>,
        name: &str,
        nics: &[String],
    ) -> Result<BenchVm, String> {
        let mut pending = self.spawn_in(netns, name, nics)?;
        loop {
            super::check_interrupt()?;
            if let Some(vm) = pending.poll()? {
                return Ok(vm);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Pending {
    /// `Ok(Some(vm))` once the launcher returned with the VM ready, `Ok(None)` while it runs.
    pub fn poll(&mut self) -> Result<Option<BenchVm>, String> {
        let child = self.child.as_mut().expect("polled after completion");
        let Some(status) = child.try_wait().map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let command_ms = self.spawned.elapsed().as_secs_f64() * 1000.0;
        let mut child = self.child.take().expect("child");
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        // It has exited already; this only collects its status.
        let _ = child.wait();
        let ready = out.lines().find(|l| l.starts_with("ready "));
        let pid = runtime_dir()
            .ok()
            .and_then(|d| VmRecord::load(&d, &self.name))
            .map(|r| r.pid);
        let (Some(ready), Some(pid), true) = (ready, pid, status.success()) else {
            if let Some(pid) = pid {
                kill(pid);
            }
            forget(&self.name, &self.control);
            return Err(format!(
                "VM {} did not start: {}{}",
                self.name,
                out.trim(),
                err.trim()
            ));
        };
        let field = |key: &str| {
            ready
                .split_whitespace()
                .find_map(|f| f.strip_prefix(key))
                .map(str::to_string)
        };
        let number = |key: &str, unit: &str| {
            field(key).and_then(|v| v.strip_suffix(unit).and_then(|n| n.parse::<f64>().ok()))
        };
        // The guest's own ready line from the console log, once complete (the launcher
        // may have returned on its first bytes).
        let log = runtime_dir().map(|d| d.join(format!("{}.log", self.name)));
        let mut guest = String::new();
        for _ in 0..100 {
            let text = log
                .as_ref()
                .ok()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            if let Some(at) = text.find("ready entry->ready=") {
                if let Some(end) = text[at..].find('\n') {
                    guest = text[at..at + end].trim_end().to_string();
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let us = |v: &str| v.strip_suffix("us").and_then(|n| n.parse::<f64>().ok());
        let guest_fields: Vec<(String, f64)> = guest
            .split_whitespace()
            .filter_map(|f| f.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), us(v)?)))
            .collect();
        let entry_us = guest_fields
            .iter()
            .find(|(k, _)| k == "entry->ready")
            .map(|(_, v)| *v)
            .or_else(|| number("entry->ready=", "us"));
        let checkpoints = guest_fields
            .into_iter()
            .filter(|(k, _)| !k.contains("->"))
            .collect();
        Ok(Some(BenchVm {
            name: self.name.clone(),
            control: self.control.clone(),
            pid,
            accel: field("accel=").unwrap_or_else(|| "?".into()),
            launcher_ms: number("launcher->ready=", "ms").unwrap_or(f64::NAN),
            entry_us,
            command_ms,
            checkpoints,
        }))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(r) = runtime_dir()
                .ok()
                .and_then(|d| VmRecord::load(&d, &self.name))
            {
                kill(r.pid);
            }
            forget(&self.name, &self.control);
        }
    }
}

impl BenchVm {
    /// Reads a handler through the control channel.
    pub fn read(&self, handler: &str, timeout: Duration) -> Result<String, String> {
        ctl::call_with_timeout(&self.control, &Request::Read(handler.into()), timeout)
            .map_err(|e| format!("{}: read {handler}: {e}", self.name))
    }

    /// QEMU's resident set size in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid)
    }
}

impl Drop for BenchVm {
    fn drop(&mut self) {
        kill(self.pid);
        forget(&self.name, &self.control);
    }
}

/// `VmRSS` of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Linux clock ticks per second (`USER_HZ`), the unit of `/proc/PID/stat` times.
pub const CLOCK_TICKS: u64 = 100;

/// CPU time (user + system) process `pid` used so far, in clock ticks ([`CLOCK_TICKS`]).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3 of stat; utime and stime are fields 14 and 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Kills QEMU and waits (briefly) until it is gone.
fn kill(pid: u32) {
    if !pid_alive(pid) {
        return;
    }
    signal(pid, "KILL");
    let start = Instant::now();
    while pid_alive(pid) && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Removes what `sluice boot` left for VM `name`.
fn forget(name: &str, control: &Path) {
    if let Ok(dir) = runtime_dir() {
        VmRecord::remove(&dir, name);
        let _ = std::fs::remove_file(dir.join(format!("{name}.log")));
    }
    let _ = std::fs::remove_file(control);
}
