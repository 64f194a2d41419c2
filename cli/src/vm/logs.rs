//! `sluice logs NAME [-f]`: a VM's console, as `docker logs` shows a container's.
//!
//! A detached VM's console goes to a log file (`<runtime dir>/<name>.log` unless `sluice
//! boot --log FILE` chose another); `sluice ps` shows where. The log of a stopped VM stays
//! until a VM of the same name boots, so `sluice logs NAME` still shows how it ended. A
//! foreground VM without `--log` writes its console to its launcher's output instead.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::fail;
use super::state::{runtime_dir, VmRecord};

/// Arguments of `sluice logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The VM's name (see `sluice ps`), running or stopped.
    pub name: String,
    /// Keep printing what the VM writes, until it stops (or Ctrl-C).
    #[arg(short, long)]
    pub follow: bool,
}

/// How often a followed log is read again.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// Where `name`'s console is, and QEMU's pid while the VM runs.
fn locate(dir: &Path, name: &str) -> Result<(PathBuf, Option<u32>), String> {
    let default = dir.join(format!("{name}.log"));
    match VmRecord::load(dir, name) {
        Some(vm) if vm.alive() => match (vm.log, vm.launcher) {
            (Some(log), _) => Ok((log, Some(vm.pid))),
            (None, launcher) => Err(format!(
                "{name} runs in the foreground: its console is the output of the `sluice boot` \
                 that runs it{} (boot with --detach, or --log FILE, for a log file)",
                launcher.map_or(String::new(), |p| format!(" (pid {p})"))
            )),
        },
        _ if default.exists() => Ok((default, None)),
        _ => Err(format!(
            "no VM named '{name}' and no log at {} (see `sluice ps`)",
            default.display()
        )),
    }
}

/// `sluice logs`.
pub fn logs(args: LogsArgs) -> ExitCode {
    let dir = match runtime_dir() {
        Ok(d) => d,
        Err(e) => return fail("logs", format!("runtime directory: {e}")),
    };
    let (path, pid) = match locate(&dir, &args.name) {
        Ok(found) => found,
        Err(e) => return fail("logs", e),
    };
    match print_log(&path, pid.filter(|_| args.follow)) {
        Ok(()) => {
            if args.follow && pid.is_none() {
                eprintln!("sluice logs: {} is not running", args.name);
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail("logs", format!("{}: {e}", path.display())),
    }
}

/// Copies the log to standard output; with `follow` (QEMU's pid), keeps copying what is
/// appended until that process ends.
fn print_log(path: &Path, follow: Option<u32>) -> std::io::Result<()> {
    let mut file = std::fs::File::open(path)?;
    let mut out = std::io::stdout().lock();
    std::io::copy(&mut file, &mut out)?;
    out.flush()?;
    let Some(pid) = follow else {
        return Ok(());
    };
    let mut buf = Vec::new();
    loop {
        let running = super::state::pid_alive(pid);
        // Started over (the file replaced or cut short): read it from the start.
        let len = std::fs::metadata(path).map_or(0, |m| m.len());
        if len < file.stream_position()? {
            file = std::fs::File::open(path)?;
        }
        buf.clear();
        file.read_to_end(&mut buf)?;
        if !buf.is_empty() {
            out.write_all(&buf)?;
            out.flush()?;
        }
        if !running {
            return Ok(());
        }
        std::thread::sleep(FOLLOW_EVERY);
    }
}
