//! The record of running VMs (see the module docs of `vm`), `sluice ps` and `sluice stop`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use super::{ctl, fail};

/// The runtime directory, created if needed.
pub fn runtime_dir() -> std::io::Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("sluice"),
        None if is_root() => PathBuf::from("/run/sluice"),
        None => std::env::temp_dir().join(format!("sluice-{}", uid())),
    };
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next().map(String::from))
        })
        .unwrap_or_else(|| "user".into())
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    uid() == "0"
}

/// A running VM, as `<name>.vm` records it: one `key=value` per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmRecord {
    pub name: String,
    /// QEMU's process id.
    pub pid: u32,
    pub control: PathBuf,
    pub image: PathBuf,
    /// `--nic` specifications, in order.
    pub nics: Vec<String>,
    /// `tcg` or `kvm`.
    pub accel: String,
    /// The console log, when the VM runs detached.
    pub log: Option<PathBuf>,
    /// The `sluice boot` process that runs the VM in the foreground; `None` when detached.
    pub launcher: Option<u32>,
    /// The libvirt connection URI (`default` for virsh's own) of a VM that `sluice deploy
    /// libvirt --start` started as a domain of the same name.
    pub libvirt: Option<String>,
}

impl VmRecord {
    fn path(dir: &Path, name: &str) -> PathBuf {
        dir.join(format!("{name}.vm"))
    }

    /// Writes the record.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let mut text = format!(
            "name={}\npid={}\ncontrol={}\nimage={}\naccel={}\n",
            self.name,
            self.pid,
            self.control.display(),
            self.image.display(),
            self.accel
        );
        for nic in &self.nics {
            text.push_str(&format!("nic={nic}\n"));
        }
        if let Some(log) = &self.log {
            text.push_str(&format!("log={}\n", log.display()));
        }
        if let Some(pid) = self.launcher {
            text.push_str(&format!("launcher={pid}\n"));
        }
        if let Some(uri) = &self.libvirt {
            text.push_str(&format!("libvirt={uri}\n"));
        }
        let tmp = dir.join(format!(".{}.vm.tmp", self.name));
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, Self::path(dir, &self.name))
    }

    /// Reads the record of `name`.
    pub fn load(dir: &Path, name: &str) -> Option<VmRecord> {
        Self::parse(&std::fs::read_to_string(Self::path(dir, name)).ok()?)
    }

    fn parse(text: &str) -> Option<VmRecord> {
        let mut r = VmRecord {
            name: String::new(),
            pid: 0,
            control: PathBuf::new(),
            image: PathBuf::new(),
            nics: Vec::new(),
            accel: String::new(),
            log: None,
            launcher: None,
            libvirt: None,
        };
        for line in text.lines() {
            let (k, v) = line.split_once('=')?;
            match k {
                "name" => r.name = v.into(),
                "pid" => r.pid = v.parse().ok()?,
                "control" => r.control = v.into(),
                "image" => r.image = v.into(),
                "accel" => r.accel = v.into(),
                "nic" => r.nics.push(v.into()),
                "log" => r.log = Some(v.into()),
                "launcher" => r.launcher = v.parse().ok(),
                "libvirt" => r.libvirt = Some(v.into()),
                _ => {}
            }
        }
        (!r.name.is_empty() && r.pid != 0).then_some(r)
    }

    /// Deletes the record.
    pub fn remove(dir: &Path, name: &str) {
        let _ = std::fs::remove_file(Self::path(dir, name));
    }

    /// Whether the QEMU process still runs.
    pub fn alive(&self) -> bool {
        pid_alive(self.pid)
    }

    /// Where the console goes: the log file, or (a foreground VM without `--log`) the
    /// launcher's own output.
    pub fn console(&self) -> String {
        match (&self.log, self.launcher) {
            (Some(log), _) => log.display().to_string(),
            (None, Some(pid)) => format!("(output of sluice boot, pid {pid})"),
            (None, None) => "-".into(),
        }
    }

    /// `foreground` (its launcher runs), `detached`, `orphaned` (the foreground launcher
    /// is gone but QEMU runs on: stop it with `sluice stop`), or `libvirt` (a domain).
    pub fn state(&self) -> &'static str {
        if self.libvirt.is_some() {
            return "libvirt";
        }
        match self.launcher {
            None => "detached",
            Some(pid) if pid_alive(pid) => "foreground",
            Some(_) => "orphaned",
        }
    }

    /// Deletes what a stopped VM leaves in the runtime directory `dir`: its record and its
    /// control socket. Its console log stays, for `sluice logs NAME` to show how it ended,
    /// until a VM of the same name boots.
    pub fn forget(&self, dir: &Path) {
        Self::remove(dir, &self.name);
        let _ = std::fs::remove_file(&self.control);
    }

    /// Every recorded VM whose process still runs; what VMs that ended left is forgotten
    /// ([`VmRecord::forget`]).
    pub fn all(dir: &Path) -> Vec<VmRecord> {
        let mut vms: Vec<VmRecord> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "vm"))
            .filter_map(|e| Self::parse(&std::fs::read_to_string(e.path()).ok()?))
            .filter(|r| {
                let alive = r.alive();
                if !alive {
                    r.forget(dir);
                }
                alive
            })
            .collect();
        vms.sort_by(|a, b| a.name.cmp(&b.name));
        vms
    }
}

/// Whether process `pid` exists (and is not a zombie).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Arguments of `sluice ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Print a JSON array instead of the table: per VM, `name`, `pid`, `state`, `accel`,
    /// `control`, `nics`, `image`, `log` and `libvirt` (its connection URI, or null).
    #[arg(long)]
    pub json: bool,
}

/// Lists running VMs (never stopped ones), with where each one's console goes.
pub fn ps(args: PsArgs) -> ExitCode {
    let dir = match runtime_dir() {
        Ok(d) => d,
        Err(e) => return fail("ps", format!("runtime directory: {e}")),
    };
    let vms = VmRecord::all(&dir);
    if args.json {
        use crate::json::Json;
        let path = |p: &Path| Json::str(p.display().to_string());
        let list = vms
            .iter()
            .map(|vm| {
                Json::obj([
                    ("name", Json::str(vm.name.as_str())),
                    ("pid", Json::num(vm.pid)),
                    ("state", Json::str(vm.state())),
                    ("accel", Json::str(vm.accel.as_str())),
                    ("control", path(&vm.control)),
                    (
                        "nics",
                        Json::Arr(vm.nics.iter().map(|n| Json::str(n.as_str())).collect()),
                    ),
                    ("image", path(&vm.image)),
                    ("log", vm.log.as_deref().map_or(Json::Null, path)),
                    (
                        "libvirt",
                        vm.libvirt.as_deref().map_or(Json::Null, Json::str),
                    ),
                ])
            })
            .collect();
        println!("{}", Json::Arr(list));
        return ExitCode::SUCCESS;
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{:<16} {:>8} {:<10} {:<5} {:<40} NICS",
        "NAME", "PID", "STATE", "ACCEL", "CONTROL"
    );
    for vm in vms {
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:<10} {:<5} {:<40} {}   image={} log={}",
            vm.name,
            vm.pid,
            vm.state(),
            vm.accel,
            vm.control.display(),
            vm.nics.join(" "),
            vm.image.display(),
            vm.console()
        );
    }
    ExitCode::SUCCESS
}

/// Arguments of `sluice stop`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// The VM's name (see `sluice ps`).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub name: Option<String>,
    /// Stop every VM of this user (every one `sluice ps` lists).
    #[arg(long)]
    pub all: bool,
    /// How long to wait for the router to stop before killing QEMU.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Parses a duration as element arguments do: `500ms`, `2s`, `1.5s`, `2min`, `3` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    use sluice_config::args::FromArg;
    Duration::from_arg(s, None)
}

/// Stops a VM: asks its router to stop through the control channel (`WRITE stop`), then
/// terminates QEMU if it is still running after the timeout (a libvirt domain: destroys it
/// through libvirt, which leaves it defined). The VM's record and control socket go; its
/// console log stays until the name is reused (see [`VmRecord::forget`]).
pub fn stop(args: StopArgs) -> ExitCode {
    let dir = match runtime_dir() {
        Ok(d) => d,
        Err(e) => return fail("stop", format!("runtime directory: {e}")),
    };
    let vms = match &args.name {
        Some(name) => match VmRecord::load(&dir, name) {
            Some(vm) if vm.alive() => vec![vm],
            stale => {
                if let Some(vm) = stale {
                    vm.forget(&dir);
                }
                return fail(
                    "stop",
                    format!("no running VM named '{name}' (see `sluice ps`)"),
                );
            }
        },
        None => VmRecord::all(&dir),
    };
    // Ask every router to stop first, then wait: stopping many VMs takes one timeout.
    for vm in &vms {
        let _ = ctl::call(
            &vm.control,
            &ctl::Request::Write("stop".into(), String::new()),
        );
    }
    let start = Instant::now();
    for vm in &vms {
        let left = args.timeout.saturating_sub(start.elapsed());
        let exited = wait_exit(vm.pid, left);
        if let Some(uri) = &vm.libvirt {
            stop_domain(vm, &super::deploy::Virsh::new(Some(uri.clone())), exited);
        } else if !exited {
            signal(vm.pid, "TERM");
            if !wait_exit(vm.pid, Duration::from_secs(2)) {
                signal(vm.pid, "KILL");
                wait_exit(vm.pid, Duration::from_secs(2));
            }
        }
        vm.forget(&dir);
        println!("stopped {}", vm.name);
    }
    ExitCode::SUCCESS
}

/// Finishes stopping a libvirt domain: destroys it when QEMU did not exit by itself, and
/// waits until libvirt, too, sees it shut off (it notices QEMU's exit a moment later), so
/// that a `virsh start` right after finds it stopped.
fn stop_domain(vm: &VmRecord, virsh: &super::deploy::Virsh, exited: bool) {
    if !exited {
        if let Err(e) = virsh.run(&["destroy", &vm.name]) {
            eprintln!("sluice stop: {}: {e}", vm.name);
        }
        if !wait_exit(vm.pid, Duration::from_secs(5)) {
            signal(vm.pid, "KILL");
            wait_exit(vm.pid, Duration::from_secs(2));
        }
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        match virsh.run(&["domstate", &vm.name]) {
            Ok(state) if state.trim() == "running" || state.trim() == "paused" => {}
            _ => return,
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "sluice stop: {}: QEMU ended, but libvirt still reports the domain running",
        vm.name
    );
}

/// Sends signal `sig` (`TERM`, `KILL`) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(std::process::Stdio::null())
        .status();
}

fn wait_exit(pid: u32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !pid_alive(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let r = VmRecord {
            name: "fw".into(),
            pid: std::process::id(),
            control: "/tmp/fw.ctl".into(),
            image: "/tmp/fw.elf".into(),
            nics: vec!["dgram:1:2".into(), "tap:tap0".into()],
            accel: "tcg".into(),
            log: None,
            launcher: Some(std::process::id()),
            libvirt: None,
        };
        r.save(dir.path()).unwrap();
        assert_eq!(VmRecord::load(dir.path(), "fw"), Some(r.clone()));
        assert_eq!(VmRecord::all(dir.path()), vec![r.clone()]);
        assert_eq!(r.state(), "foreground");
        let gone = VmRecord {
            launcher: Some(u32::MAX),
            ..r.clone()
        };
        assert_eq!(gone.state(), "orphaned");
        let detached = VmRecord {
            launcher: None,
            ..r
        };
        assert_eq!(detached.state(), "detached");
        let domain = VmRecord {
            libvirt: Some("qemu:///system".into()),
            ..detached
        };
        domain.save(dir.path()).unwrap();
        assert_eq!(VmRecord::load(dir.path(), "fw"), Some(domain.clone()));
        assert_eq!(domain.state(), "libvirt");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2 fortnights").is_err());
        assert!(parse_duration("").is_err());
    }
}
