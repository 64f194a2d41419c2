//! `sluice build FILE -o IMAGE [NAME=value ...]`: compiles a configuration into a bootable
//! image.
//!
//! The configuration is validated here, on the host, with exactly the checks and messages of
//! `sluice check`, so a VM never fails to boot on a configuration error it could have been
//! told about. The flattened configuration (`sluice_config::unparse`) is then handed to the
//! unikernel's build script through `SLUICE_CONFIG`; it builds the graph into the image
//! together with only the element classes the graph uses. The image is the release ELF,
//! copied to IMAGE.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus, Stdio};

use super::fail;
use crate::progress::Status;

/// The Rust target the unikernel is built for.
pub const TARGET: &str = "x86_64-unknown-none";

/// Arguments of `sluice build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The configuration file (none with `--generic`).
    #[arg(required_unless_present = "generic")]
    pub file: Option<PathBuf>,
    /// `NAME=value` settings for the configuration's `$NAME` parameters.
    pub params: Vec<String>,
    /// Where to write the image.
    #[arg(short, long, value_name = "IMAGE")]
    pub output: PathBuf,
    /// The unikernel's source folder (default: the one next to this CLI's sources).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,
    /// Build a generic image instead: every element class, configuration given at boot
    /// (`sluice boot IMAGE --config FILE.click`).
    #[arg(long, conflicts_with = "file")]
    pub generic: bool,
    /// Show cargo's output.
    #[arg(short, long)]
    pub verbose: bool,
}

/// The unikernel's source folder as this binary was built.
pub fn default_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../unikernel")
}

/// `sluice build`.
pub fn build(args: BuildArgs) -> ExitCode {
    let source = args.source.clone().unwrap_or_else(default_source);
    let source = match source.canonicalize() {
        Ok(s) if s.join("Cargo.toml").exists() => s,
        _ => {
            return fail(
                "build",
                format!(
                    "no unikernel sources at {} (pass --source DIR)",
                    source.display()
                ),
            )
        }
    };
    let Some(file) = &args.file else {
        return match compile(&source, &args, None) {
            Ok(size) => {
                println!(
                    "built {} ({size} bytes, {:.1} KiB; generic: configuration at boot)",
                    args.output.display(),
                    size as f64 / 1024.0
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail("build", e),
        };
    };
    let loaded = match crate::config::load(file, &args.params) {
        Ok(l) => l,
        Err(e) => {
            let text = e.to_string();
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = check_vm_classes(&loaded.graph) {
        return fail("build", e);
    }
    if let Err(report) = instantiate(&loaded) {
        eprint!("{report}");
        return ExitCode::FAILURE;
    }
    let flat = sluice_config::unparse(&loaded.graph);
    match compile(&source, &args, Some((file, &flat))) {
        Ok(size) => {
            println!(
                "built {} ({} bytes, {:.1} KiB; {} elements, {} classes)",
                args.output.display(),
                size,
                size as f64 / 1024.0,
                loaded.graph.elements.len(),
                class_count(&loaded.graph)
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail("build", e),
    }
}

fn class_count(graph: &sluice_config::FlatGraph) -> usize {
    let mut classes: Vec<&str> = graph.elements.iter().map(|e| e.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    classes.len()
}

/// How many NICs the host-side trial run offers (`eth0`...): a VM has at most this many.
const TRIAL_NICS: usize = 8;

/// Instantiates the router on the host, with in-memory stand-ins for the VM's NICs
/// (`eth0`..`eth7`, MACs 52:54:00:12:34:5X), so element argument and initialization errors
/// are reported here, rendered like every configuration error, instead of at boot.
pub(crate) fn instantiate(loaded: &crate::config::Loaded) -> Result<(), String> {
    use sluice_dataplane::console::MemoryConsole;
    use sluice_dataplane::{Environment, LoopbackDevice, ManualClock, NetDevice, PacketPool};

    let devices: Vec<Box<dyn NetDevice>> = (0..TRIAL_NICS)
        .map(|i| {
            let mac = [0x52, 0x54, 0, 0x12, 0x34, 0x50 + i as u8];
            Box::new(LoopbackDevice::new(&format!("eth{i}"), mac)) as Box<dyn NetDevice>
        })
        .collect();
    let env = Environment {
        pool: PacketPool::new(64),
        clock: Box::new(ManualClock::new(0)),
        devices,
        device_opener: None,
        console: Box::new(MemoryConsole::default()),
    };
    let classes = sluice_elements::all_classes();
    sluice_dataplane::Router::new(&loaded.graph, &classes, env)
        .map(drop)
        .map_err(|diags| crate::config::render(&diags, &loaded.sources))
}

/// Host-only classes (pcap files) cannot run in a VM.
pub(crate) fn check_vm_classes(graph: &sluice_config::FlatGraph) -> Result<(), String> {
    let host_only: Vec<&str> = sluice_elements::host::ALL.iter().map(|c| c.name).collect();
    let bad: Vec<String> = graph
        .elements
        .iter()
        .filter(|e| host_only.contains(&e.class.as_str()))
        .map(|e| format!("{} :: {}", e.name, e.class))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} run only on the host (`sluice run`), not in a VM image",
            bad.join(", ")
        ))
    }
}

/// Whether rustup reports the target as installed (`None` without rustup).
fn target_installed() -> Option<bool> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == TARGET)
    })
}

fn missing_target_message() -> String {
    format!("the Rust target {TARGET} is not installed: run `rustup target add {TARGET}`")
}

/// How the progress line starts.
const PREFIX: &str = "sluice build: ";

/// The width of the terminal on standard error (80 when it cannot be told).
fn terminal_columns() -> usize {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only writes a `winsize` to the pointer, which points to one.
    let rc = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) };
    if rc == 0 && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

/// Runs cargo with its standard error piped, drawing each of its progress-bar updates
/// (`Building [===>  ] 12/40: crate`) on our status line. Returns its exit status and the
/// rest of what it printed, its warnings and errors, without the progress and the
/// `Compiling ...` lines.
fn run_with_progress(command: &mut Command) -> std::io::Result<(ExitStatus, Vec<u8>)> {
    let mut child = command.spawn()?;
    let mut stderr = child.stderr.take().expect("piped stderr");
    let mut status_line = Status::enabled_if(true);
    let mut kept = Vec::new();
    let mut segment = Vec::new();
    let mut buf = [0u8; 4096];
    let mut take = |segment: &[u8], end: u8, status_line: &mut Status| {
        let text = String::from_utf8_lossy(segment);
        let word = text.trim_start();
        if word.starts_with("Building [") {
            status_line.draw(&format!("{PREFIX}{}", text.trim()));
        } else if !text.trim().is_empty()
            && !["Compiling ", "Finished ", "Blocking ", "Fresh "]
                .iter()
                .any(|w| word.starts_with(w))
        {
            kept.extend_from_slice(segment);
            kept.push(end);
        }
    };
    loop {
        let n = stderr.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            if b == b'\r' || b == b'\n' {
                take(&segment, b'\n', &mut status_line);
                segment.clear();
            } else {
                segment.push(b);
            }
        }
    }
    take(&segment, b'\n', &mut status_line);
    status_line.clear();
    Ok((child.wait()?, kept))
}

/// Builds the image, with `config` (the file and its flattened text) built in or, without
/// it, generic; returns the image size.
fn compile(source: &Path, args: &BuildArgs, config: Option<(&Path, &str)>) -> Result<u64, String> {
    if target_installed() == Some(false) {
        return Err(missing_target_message());
    }
    let target_dir = std::env::var_os("SLUICE_UNIKERNEL_TARGET_DIR")
        .map_or_else(|| source.join("target"), PathBuf::from);
    let work = target_dir.join("sluice-build");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    // One build at a time per target folder, from writing the configuration to copying the
    // image out: builds of different configurations share the folder and its output path.
    let lock_path = work.join(".lock");
    let lock =
        std::fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        // Shown until the lock is ours.
        let mut waiting = Status::new();
        waiting.draw(&format!(
            "{PREFIX}waiting for another sluice build in {} to finish",
            target_dir.display()
        ));
        lock.lock()
            .map_err(|e| format!("locking {}: {e}", lock_path.display()))?;
    }
    let flat_path = match config {
        Some((file, flat)) => {
            let stem = file
                .file_stem()
                .map_or_else(|| "config".into(), |s| s.to_string_lossy().into_owned());
            let path = work.join(format!("{stem}.click"));
            std::fs::write(&path, flat).map_err(|e| format!("{}: {e}", path.display()))?;
            Some(path)
        }
        None => None,
    };

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target-dir"])
        .arg(&target_dir)
        .current_dir(source)
        .env(
            "SLUICE_CONFIG",
            flat_path.as_deref().unwrap_or(Path::new("")),
        )
        // The kernel's own .cargo/config.toml decides target and flags.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null());
    // On a terminal: cargo's progress bar, redrawn on one line of our own. Elsewhere (and
    // with --verbose) what it was before: quiet, or all of cargo's output.
    let progress = !args.verbose && std::io::stderr().is_terminal();
    if progress {
        let width = terminal_columns().saturating_sub(PREFIX.len()).max(40);
        command
            .args(["--config", "term.progress.when=\"always\""])
            .args(["--config", &format!("term.progress.width={width}")]);
        eprintln!(
            "{PREFIX}compiling the unikernel for {TARGET} with cargo (about a minute the \
             first time, a few seconds after)"
        );
    } else if !args.verbose {
        command.arg("--quiet");
    }
    command.stdout(Stdio::inherit()).stderr(if args.verbose {
        Stdio::inherit()
    } else {
        Stdio::piped()
    });
    let (status, stderr) = if progress {
        run_with_progress(&mut command)
    } else {
        command.output().map(|o| (o.status, o.stderr))
    }
    .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            return Err(missing_target_message());
        }
        return Err(format!("building the image failed:\n{stderr}"));
    }
    let elf = target_dir.join(TARGET).join("release/sluice-unikernel");
    std::fs::copy(&elf, &args.output).map_err(|e| {
        format!(
            "copying {} to {}: {e}",
            elf.display(),
            args.output.display()
        )
    })
}
