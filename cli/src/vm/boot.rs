//! `sluice boot IMAGE [--nic ...]...`: runs an image under QEMU's microvm machine, or with
//! `--machine q35` on a q35 PC.
//!
//! microvm has no firmware and no PCI: the NICs are virtio-mmio devices, which QEMU lists on
//! the kernel command line. q35 is a PC as libvirt, OpenStack and most tooling run them:
//! SeaBIOS starts the image, the NICs are `virtio-net-pci` functions on the root bus
//! (NIC `i` at 00:0(2+i).0, their option ROMs off), and the guest finds them on the PCI bus.
//! A q35 boot takes longer (the firmware runs first). The same image boots on both.
//!
//! The launcher checks everything it can before starting QEMU (the image's PVH note, QEMU
//! itself, the NICs' UDP ports), picks the accelerator, passes the host's TSC frequency on
//! the kernel command line (measured once, cached in the runtime directory), and connects:
//!
//! - the console (COM1) to its own output, or to `--log FILE`; a detached VM's to
//!   `--log FILE` or `<runtime dir>/<name>.log`, which `sluice logs NAME` prints;
//! - the control channel (COM2) to a UNIX socket (`--control PATH`, default
//!   `<runtime dir>/<name>.ctl`), which `sluice ctl` talks to;
//! - each `--nic`, in order, to a virtio-net device: the first is the guest's `eth0` =
//!   `FromDevice(0)`, with MAC 52:54:00:12:34:50, the second `eth1`, and so on.
//!
//! When the guest prints its `ready` line the launcher prints one of its own:
//! `ready name=NAME accel=tcg launcher->ready=<ms> entry->ready=<us> ...`. It then runs
//! until the VM stops (Ctrl-C or `sluice stop NAME` stop it) and exits with a status that
//! says how the guest ended: 0 when the router stopped normally, 1 otherwise, with a line
//! naming the cause (panic, CPU exception, configuration error). With `--detach` it returns
//! once the VM is ready and leaves it running. When QEMU itself fails before the guest
//! starts (a TAP device it may not open or that is in use, a port taken), the launcher shows
//! what QEMU said and what to do about it.

use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::state::{runtime_dir, signal, VmRecord};
use super::{fail, guest_status, image};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// Arguments of `sluice boot`.
#[derive(Debug, clap::Args)]
pub struct BootArgs {
    /// The image (from `sluice build`).
    pub image: PathBuf,
    /// A NIC, in order: `dgram:LPORT:RPORT` (UDP on 127.0.0.1: frames for the guest arrive
    /// on LPORT, frames from it go to RPORT) or `tap:IFNAME`.
    #[arg(long = "nic", value_name = "SPEC")]
    pub nics: Vec<String>,
    /// Guest memory (QEMU `-m` syntax: 8M, 16M, 1280K).
    #[arg(long, default_value = "8M")]
    pub mem: String,
    /// Accelerator: `auto` takes KVM only where it really accelerates.
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,
    /// The machine type: `microvm` (virtio-mmio NICs, no firmware: the fastest boot) or
    /// `q35` (a PC with SeaBIOS and virtio-pci NICs).
    #[arg(long, value_enum, default_value_t = Machine::Microvm)]
    pub machine: Machine,
    /// The control socket (default `<runtime dir>/<name>.ctl`).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// The VM's name (default `vm-<pid>`).
    #[arg(long)]
    pub name: Option<String>,
    /// Return once the VM is ready and leave it running.
    #[arg(long)]
    pub detach: bool,
    /// Write the console to FILE instead of standard output (with `--detach`, instead of
    /// `<runtime dir>/<name>.log`).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// The configuration for a generic image (built without a configuration), passed as a
    /// boot module; the guest parses it at boot.
    #[arg(long, value_name = "FILE.click")]
    pub config: Option<PathBuf>,
    /// What the guest does while no packets arrive: `halt` sleeps until a NIC, the control
    /// channel or a timer interrupts (an idle VM costs no host CPU; a packet that finds it
    /// asleep waits for the wake-up), `poll` never sleeps (one busy host CPU per VM).
    #[arg(long, value_enum, default_value_t = Idle::Halt)]
    pub idle: Idle,
    /// Extra kernel command-line words (`pool=512`, `loglevel=debug`).
    #[arg(long, value_name = "WORDS")]
    pub append: Vec<String>,
    /// Give up if the VM is not ready after this long.
    #[arg(long, default_value = "30s", value_parser = super::state::parse_duration)]
    pub ready_timeout: Duration,
    /// Print the QEMU command line before starting it.
    #[arg(short, long)]
    pub verbose: bool,
}

/// `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    /// KVM where it truly accelerates, else TCG.
    Auto,
    /// KVM (fails if unusable).
    Kvm,
    /// QEMU's translator.
    Tcg,
}

/// `--machine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Machine {
    /// QEMU's microvm: virtio-mmio NICs, no firmware, no PCI.
    Microvm,
    /// A q35 PC: SeaBIOS, virtio-pci NICs.
    Q35,
}

impl Machine {
    /// QEMU's name of the machine type (libvirt's too).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Microvm => "microvm",
            Self::Q35 => "q35",
        }
    }
}

/// The most NICs a q35 VM takes: one per root-bus slot from 00:02 to 00:18.
pub const Q35_MAX_NICS: usize = 23;

/// `--idle`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Idle {
    /// Poll under load, halt until an interrupt or a timer when idle.
    Halt,
    /// Poll always.
    Poll,
}

impl Idle {
    /// The value of the guest's `idle=` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Halt => "halt",
            Self::Poll => "poll",
        }
    }
}

/// A NIC specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nic {
    /// UDP datagrams on 127.0.0.1.
    Dgram { local: u16, remote: u16 },
    /// A TAP interface.
    Tap { ifname: String },
}

impl Nic {
    /// Parses `dgram:LPORT:RPORT` or `tap:IFNAME`.
    pub fn parse(spec: &str) -> Result<Nic, String> {
        let bad =
            || format!("bad --nic '{spec}': expected dgram:LOCAL_PORT:REMOTE_PORT or tap:IFNAME");
        match spec.split(':').collect::<Vec<_>>().as_slice() {
            ["dgram", l, r] => Ok(Nic::Dgram {
                local: l.parse().map_err(|_| bad())?,
                remote: r.parse().map_err(|_| bad())?,
            }),
            ["tap", name] if !name.is_empty() && name.len() < 16 => Ok(Nic::Tap {
                ifname: (*name).into(),
            }),
            _ => Err(bad()),
        }
    }

    /// QEMU's `-netdev` value for NIC `index`.
    fn netdev(&self, index: usize) -> String {
        match self {
            Nic::Dgram { local, remote } => format!(
                "dgram,id=n{index},local.type=inet,local.host=127.0.0.1,local.port={local},\
                 remote.type=inet,remote.host=127.0.0.1,remote.port={remote}"
            ),
            Nic::Tap { ifname } => {
                format!("tap,id=n{index},ifname={ifname},script=no,downscript=no")
            }
        }
    }
}

/// QEMU's `-machine` value: the machine type with what a network function does not use
/// turned off.
pub fn machine_options(machine: Machine) -> &'static str {
    match machine {
        Machine::Microvm => "microvm,x-option-roms=off,pit=off,pic=off,rtc=off,acpi=off",
        // No SATA controller, SMBus, PS/2 controller, HPET or VMware port: nothing for
        // SeaBIOS to probe, nothing for the guest to use.
        Machine::Q35 => "q35,sata=off,smbus=off,i8042=off,hpet=off,vmport=off",
    }
}

/// QEMU's `-device` value of NIC `index` (netdev `n<index>`): on q35 at slot 2 + `index` of
/// the root bus, without an option ROM (SeaBIOS would run its network boot code).
pub fn nic_device(machine: Machine, index: usize) -> String {
    let mac = nic_mac(index);
    match machine {
        Machine::Microvm => format!("virtio-net-device,netdev=n{index},mac={mac}"),
        Machine::Q35 => format!(
            "virtio-net-pci,netdev=n{index},mac={mac},addr={:#x},romfile=",
            2 + index
        ),
    }
}

/// The MAC address of NIC `index`: 52:54:00:12:34:5X, as QEMU's own numbering goes.
pub fn nic_mac(index: usize) -> String {
    format!("52:54:00:12:34:{:02x}", 0x50 + index)
}

/// The accelerator to use and why.
pub fn choose_accel(accel: Accel) -> Result<(&'static str, String), String> {
    let kvm = kvm_status();
    match accel {
        Accel::Tcg => Ok(("tcg", "as asked".into())),
        Accel::Kvm => match kvm {
            Ok(()) | Err(KvmUnfit::Nested(_)) => Ok(("kvm", "as asked".into())),
            Err(KvmUnfit::Unusable(why)) => Err(format!("--accel kvm: {why}")),
        },
        Accel::Auto => Ok(match kvm {
            Ok(()) => ("kvm", "hardware virtualization available".into()),
            Err(KvmUnfit::Nested(why)) | Err(KvmUnfit::Unusable(why)) => ("tcg", why),
        }),
    }
}

enum KvmUnfit {
    /// /dev/kvm works but does not accelerate an ordinary guest.
    Nested(String),
    /// /dev/kvm cannot be used.
    Unusable(String),
}

/// Whether KVM would truly accelerate a (non-PVM) guest here.
fn kvm_status() -> Result<(), KvmUnfit> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return Err(KvmUnfit::Unusable(format!("/dev/kvm is not usable ({e})")));
    }
    let modules = std::fs::read_to_string("/proc/modules").unwrap_or_default();
    let loaded = |m: &str| {
        Path::new("/sys/module").join(m).exists()
            || modules
                .lines()
                .any(|l| l.split_whitespace().next() == Some(m))
    };
    if loaded("kvm_pvm") {
        return Err(KvmUnfit::Nested(
            "/dev/kvm is kvm_pvm (nested PVM), which emulates an ordinary guest instruction by \
             instruction: TCG is faster"
                .into(),
        ));
    }
    if !loaded("kvm_intel") && !loaded("kvm_amd") {
        return Err(KvmUnfit::Nested(
            "/dev/kvm is not backed by kvm_intel or kvm_amd (no hardware virtualization)".into(),
        ));
    }
    Ok(())
}

/// The host's TSC frequency in kHz, measured once and cached in the runtime directory. A
/// guest's TSC ticks at the host's rate (TCG's RDTSC reads the host's TSC), so this is the
/// `tsc_khz=` the guest needs on a machine without a reference timer.
pub fn host_tsc_khz(dir: &Path) -> u64 {
    let cache = dir.join("tsc_khz");
    if let Some(khz) = std::fs::read_to_string(&cache)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|&k| k > 0)
    {
        return khz;
    }
    let khz = measure_tsc_khz(Duration::from_millis(50));
    let _ = std::fs::write(&cache, format!("{khz}\n"));
    khz
}

/// Makes the kernel kill QEMU when the foreground launcher dies, however it dies (SIGKILL
/// included): a VM never outlives the `sluice boot` that owns it.
fn die_with_launcher(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    let launcher = std::process::id();
    let arm = move || {
        // SAFETY: prctl(PR_SET_PDEATHSIG) only sets a flag of the calling (child) process.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // The launcher may have died between fork and prctl: then nobody would kill QEMU.
        // SAFETY: getppid has no preconditions.
        if u32::try_from(unsafe { libc::getppid() }).ok() != Some(launcher) {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: `arm` runs between fork and exec; it calls only prctl and getppid, which are
    // async-signal-safe, and allocates nothing.
    unsafe { command.pre_exec(arm) };
}

#[cfg(target_arch = "x86_64")]
fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter, which Linux lets user space read.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn rdtsc() -> u64 {
    0
}

fn measure_tsc_khz(window: Duration) -> u64 {
    let start = Instant::now();
    let start_tsc = rdtsc();
    while start.elapsed() < window {
        std::hint::spin_loop();
    }
    let ticks = rdtsc().wrapping_sub(start_tsc);
    (ticks as f64 / start.elapsed().as_secs_f64() / 1000.0).round() as u64
}

/// Why QEMU could not be started. Not probed beforehand (`qemu --version` costs a whole QEMU
/// process start, ~30 ms of dynamic linking): a missing binary shows when it is spawned.
fn spawn_error(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("{QEMU} is not installed: install it with `apt-get install qemu-system-x86`")
    } else {
        format!("cannot start {QEMU}: {e}")
    }
}

/// Fails early when a dgram NIC's local port is taken.
fn check_ports(nics: &[Nic]) -> Result<(), String> {
    for nic in nics {
        if let Nic::Dgram { local, .. } = nic {
            if let Err(e) = UdpSocket::bind(("127.0.0.1", *local)) {
                return Err(format!(
                    "UDP port 127.0.0.1:{local} for --nic dgram:{local}:... is not free ({}): \
                     pick another LOCAL port, or stop what holds it (`ss -ulpn 'sport = \
                     :{local}'` shows it; a VM of yours is listed by `sluice ps`)",
                    crate::config::io_message(&e)
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
}

/// How a guest's QEMU exit status reads, and the launcher's exit status for it.
pub fn describe_exit(status: Option<i32>) -> (String, ExitCode) {
    match status {
        Some(guest_status::SUCCESS) => ("the router stopped".into(), ExitCode::SUCCESS),
        Some(guest_status::FAILURE) => ("the guest stopped on an error".into(), ExitCode::FAILURE),
        Some(guest_status::PANIC) => ("the guest panicked".into(), ExitCode::FAILURE),
        Some(guest_status::EXCEPTION) => (
            "the guest stopped on a CPU exception".into(),
            ExitCode::FAILURE,
        ),
        Some(guest_status::CONFIG_ERROR) => (
            "the guest rejected its configuration".into(),
            ExitCode::FAILURE,
        ),
        Some(0) => (
            "the VM reset or powered off (triple fault?)".into(),
            ExitCode::FAILURE,
        ),
        Some(s) => (format!("QEMU exited with status {s}"), ExitCode::FAILURE),
        None => ("QEMU was killed by a signal".into(), ExitCode::FAILURE),
    }
}

/// `sluice boot`.
pub fn boot(args: BootArgs) -> ExitCode {
    let started = Instant::now();
    match launch(&args, started) {
        Ok(code) => code,
        Err(e) => fail("boot", e),
    }
}

/// Where the console goes.
enum Console {
    /// Through a pipe, lines copied to stdout or the log file by the launcher.
    Pipe(Option<std::fs::File>),
    /// Straight to a file by QEMU (detached VMs outlive the launcher).
    File(PathBuf),
}

fn launch(args: &BootArgs, started: Instant) -> Result<ExitCode, String> {
    image::check_pvh(&args.image).map_err(|e| e.to_string())?;
    let nics = args
        .nics
        .iter()
        .map(|s| Nic::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if args.machine == Machine::Q35 && nics.len() > Q35_MAX_NICS {
        return Err(format!(
            "{} NICs: a q35 VM takes at most {Q35_MAX_NICS} (one per PCI slot 00:02-00:18)",
            nics.len()
        ));
    }
    check_ports(&nics)?;
    let (accel, why) = choose_accel(args.accel)?;
    let dir = runtime_dir().map_err(|e| format!("runtime directory: {e}"))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("vm-{}", std::process::id()));
    if !valid_name(&name) {
        return Err(format!(
            "bad --name '{name}': use letters, digits, '-', '_' and '.'"
        ));
    }
    if let Some(other) = VmRecord::load(&dir, &name).filter(VmRecord::alive) {
        return Err(format!(
            "a VM named '{name}' is already running (pid {}); pick another --name",
            other.pid
        ));
    }
    let control = args
        .control
        .clone()
        .unwrap_or_else(|| dir.join(format!("{name}.ctl")));
    let _ = std::fs::remove_file(&control);
    // The name is taken anew: the log an earlier VM of this name left is no longer its.
    let _ = std::fs::remove_file(dir.join(format!("{name}.log")));
    let tsc_khz = host_tsc_khz(&dir);

    let console = if args.detach {
        Console::File(
            args.log
                .clone()
                .unwrap_or_else(|| dir.join(format!("{name}.log"))),
        )
    } else {
        match &args.log {
            Some(path) => Console::Pipe(Some(
                std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
            )),
            None => Console::Pipe(None),
        }
    };

    let mut cmdline = format!("tsc_khz={tsc_khz} idle={}", args.idle.as_str());
    if let Some(config) = &args.config {
        std::fs::metadata(config).map_err(|e| format!("{}: {e}", config.display()))?;
        let name = config.file_name().map_or_else(
            || "config.click".into(),
            |n| {
                n.to_string_lossy()
                    .replace(|c: char| c.is_whitespace() || c == '"', "_")
            },
        );
        cmdline.push_str(&format!(" config_name={name}"));
    }
    for word in &args.append {
        cmdline.push(' ');
        cmdline.push_str(word);
    }
    let mut command = Command::new(QEMU);
    command
        .args(["-accel", accel])
        .args(["-machine", machine_options(args.machine)])
        .args(["-nodefaults", "-no-user-config", "-no-reboot"])
        .args(["-display", "none"])
        .args(["-m", &args.mem]);
    if args.machine == Machine::Microvm {
        command.args(["-global", "virtio-mmio.force-legacy=false"]);
    }
    command
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
        .arg("-kernel")
        .arg(&args.image)
        .args(["-append", &cmdline]);
    if let Some(config) = &args.config {
        command.arg("-initrd").arg(config);
    }
    if accel == "kvm" {
        command.args(["-cpu", "host"]);
    }
    match &console {
        Console::Pipe(_) => command.args(["-serial", "stdio"]),
        Console::File(path) => {
            let _ = std::fs::remove_file(path);
            command.args(["-serial", &format!("file:{}", path.display())])
        }
    };
    // The console is the first ISA serial port (COM1); the control channel is a second one
    // at COM2's address, on either machine.
    command
        .args([
            "-chardev",
            &format!(
                "socket,id=control,path={},server=on,wait=off",
                control.display()
            ),
        ])
        .args(["-device", "isa-serial,chardev=control,iobase=0x2f8,irq=3"]);
    for (i, nic) in nics.iter().enumerate() {
        command
            .args(["-netdev", &nic.netdev(i)])
            .args(["-device", &nic_device(args.machine, i)]);
    }
    if args.verbose {
        eprintln!("{}", shell_words(&command));
    }
    command.stdin(Stdio::null()).stderr(Stdio::piped());
    match console {
        Console::Pipe(_) => command.stdout(Stdio::piped()),
        Console::File(_) => command.stdout(Stdio::null()),
    };
    if !args.detach {
        die_with_launcher(&mut command);
    }
    let mut child = command.spawn().map_err(|e| spawn_error(&e))?;

    let record = VmRecord {
        name: name.clone(),
        pid: child.id(),
        control: control.clone(),
        image: args
            .image
            .canonicalize()
            .unwrap_or_else(|_| args.image.clone()),
        nics: args.nics.clone(),
        accel: accel.into(),
        log: match &console {
            Console::File(p) => Some(p.clone()),
            Console::Pipe(_) => args.log.clone(),
        },
        launcher: (!args.detach).then(std::process::id),
        libvirt: None,
    };
    record
        .save(&dir)
        .map_err(|e| format!("recording the VM in {}: {e}", dir.display()))?;

    let stderr = child.stderr.take().expect("piped stderr");
    let stderr_lines = collect_lines(stderr);
    let ready_line = |line: &str, arrived: Duration| {
        let fields = guest_fields(line);
        println!(
            "ready name={name} accel={accel} launcher->ready={:.1}ms entry->ready={} \
             control={} ({accel}: {why})",
            arrived.as_secs_f64() * 1000.0,
            fields.unwrap_or("?"),
            control.display()
        );
        let _ = std::io::stdout().flush();
    };

    match console {
        Console::File(path) => {
            let ended = || match child.try_wait() {
                Ok(Some(status)) => Some(describe_exit(status.code()).0),
                _ => None,
            };
            let outcome = wait_ready_in_file(ended, &path, args.ready_timeout, started);
            match outcome {
                Ok((line, arrived)) => {
                    ready_line(&line, arrived);
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait().ok().and_then(|s| s.code());
                    record.forget(&dir);
                    let log = std::fs::read_to_string(&path).unwrap_or_default();
                    if log.is_empty() {
                        // Nothing from the guest: QEMU itself failed (or never got going).
                        return Err(startup_failure(&stderr_lines, status));
                    }
                    Err(format!(
                        "{e}\n{}{}",
                        log,
                        qemu_stderr(&stderr_lines, status)
                    ))
                }
            }
        }
        Console::Pipe(mut log) => {
            let interrupted = interrupt_flag();
            let stdout = child.stdout.take().expect("piped stdout");
            let lines = stream_lines(stdout);
            let mut ready = false;
            let mut last_lines: Vec<String> = Vec::new();
            let status = loop {
                while let Ok(line) = lines.try_recv() {
                    if !ready && line.starts_with("ready ") {
                        ready = true;
                        ready_line(&line, started.elapsed());
                    }
                    match &mut log {
                        Some(f) => {
                            let _ = writeln!(f, "{line}");
                        }
                        None => println!("{line}"),
                    }
                    last_lines.push(line);
                    if last_lines.len() > 40 {
                        last_lines.remove(0);
                    }
                }
                if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                    break status.code();
                }
                if interrupted.load(Ordering::SeqCst) {
                    stop_child(&mut child, &control);
                }
                if !ready && started.elapsed() > args.ready_timeout {
                    let _ = child.kill();
                    let _ = child.wait();
                    record.forget(&dir);
                    return Err(format!(
                        "the VM was not ready after {:?}; its console:\n{}",
                        args.ready_timeout,
                        last_lines.join("\n")
                    ));
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            // The rest of the console (an exception report arrives just before the exit).
            for line in lines.iter() {
                match &mut log {
                    Some(f) => {
                        let _ = writeln!(f, "{line}");
                    }
                    None => println!("{line}"),
                }
                last_lines.push(line);
            }
            record.forget(&dir);
            if !ready && last_lines.is_empty() && !interrupted.load(Ordering::SeqCst) {
                // Not a word from the guest: QEMU itself failed. Its exit status 1 reads
                // like the guest's "router stopped", so only what it said counts.
                return Err(startup_failure(&stderr_lines, status));
            }
            let (what, code) = describe_exit(status);
            if interrupted.load(Ordering::SeqCst) {
                eprintln!("sluice boot: {name} stopped (interrupted)");
                return Ok(ExitCode::SUCCESS);
            }
            if code == ExitCode::SUCCESS {
                eprintln!("sluice boot: {name}: {what}");
            } else {
                let report: Vec<&String> = last_lines
                    .iter()
                    .filter(|l| {
                        l.contains("PANIC")
                            || l.contains("EXCEPTION")
                            || l.contains("error")
                            || l.starts_with("  ")
                    })
                    .collect();
                eprintln!(
                    "sluice boot: {name}: {what} (QEMU status {})",
                    status.map_or("none".into(), |s| s.to_string())
                );
                if log.is_some() {
                    for l in report {
                        eprintln!("  | {l}");
                    }
                }
                let extra = qemu_stderr(&stderr_lines, status);
                if !extra.is_empty() {
                    eprint!("{extra}");
                }
            }
            Ok(code)
        }
    }
}

/// The guest's `entry->ready` value and the rest of its ready line.
pub(super) fn guest_fields(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("entry->ready="))
}

/// Why QEMU ended before the guest got going: what it said, and what to do about it.
fn startup_failure(lines: &Arc<std::sync::Mutex<Vec<String>>>, status: Option<i32>) -> String {
    // The reader thread may still be copying QEMU's last words.
    let start = Instant::now();
    while lines.lock().map_or(true, |l| l.is_empty())
        && start.elapsed() < Duration::from_millis(500)
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    let said: Vec<String> = lines
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|l| !l.contains("terminating on signal"))
        .collect();
    let mut out = format!(
        "QEMU stopped before the VM started (status {}){}",
        status.map_or("none".into(), |s| s.to_string()),
        if said.is_empty() { "" } else { ":" }
    );
    for line in &said {
        out.push_str(&format!("\n  {line}"));
    }
    if let Some(hint) = qemu_hint(&said.join("\n")) {
        out.push('\n');
        out.push_str(&hint);
    }
    out
}

/// What to do about a QEMU error message, for the failures users meet: TAP devices they
/// may not open or that another VM holds, UDP ports taken, no KVM access.
pub fn qemu_hint(said: &str) -> Option<String> {
    let tap = said
        .split("ifname=")
        .nth(1)
        .and_then(|r| r.split([',', ':', ' ']).next())
        .unwrap_or("IFNAME");
    if said.contains("/dev/net/tun")
        && (said.contains("Permission denied") || said.contains("Operation not permitted"))
    {
        return Some(format!(
            "opening a TAP device needs root (CAP_NET_ADMIN): run sluice boot as root, or let \
             root create the device for your user once: `ip tuntap add dev {tap} mode tap \
             user $USER && ip link set {tap} up`; or use dgram NICs (--nic dgram:LPORT:RPORT), \
             which need no privileges"
        ));
    }
    if said.contains("/dev/net/tun") && said.contains("busy") {
        return Some(format!(
            "TAP device {tap} is in use (by another VM? see `sluice ps`): stop that one or give \
             this VM another --nic tap:NAME"
        ));
    }
    if said.contains("Address already in use") {
        return Some(
            "a --nic dgram port is taken (`ss -ulpn` shows by whom): pick another LOCAL port"
                .into(),
        );
    }
    if said.contains("/dev/kvm") {
        return Some(
            "KVM is not usable here: boot with --accel tcg (or --accel auto, which picks what \
             works), or get access to /dev/kvm (the kvm group)"
                .into(),
        );
    }
    None
}

fn qemu_stderr(lines: &Arc<std::sync::Mutex<Vec<String>>>, status: Option<i32>) -> String {
    let lines = lines.lock().map(|l| l.clone()).unwrap_or_default();
    let lines: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.contains("terminating on signal"))
        .collect();
    if lines.is_empty() || status.is_some_and(|s| s % 2 == 1) {
        return String::new();
    }
    format!("QEMU said:\n{}\n", lines.join("\n"))
}

fn collect_lines(
    stderr: impl std::io::Read + Send + 'static,
) -> Arc<std::sync::Mutex<Vec<String>>> {
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut v) = l.lock() {
                v.push(line);
            }
        }
    });
    lines
}

fn stream_lines(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(out);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\r', '\n']).to_string();
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Waits for the guest's `ready` line in the console log `path`; `ended` says why the VM
/// is gone when it ended first.
pub(super) fn wait_ready_in_file(
    mut ended: impl FnMut() -> Option<String>,
    path: &Path,
    timeout: Duration,
    started: Instant,
) -> Result<(String, Duration), String> {
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            // Only a whole line: the guest may still be writing it.
            let complete = text
                .split_inclusive('\n')
                .find(|l| l.starts_with("ready ") && l.ends_with('\n'));
            if let Some(line) = complete {
                return Ok((line.trim_end().into(), started.elapsed()));
            }
        }
        if let Some(what) = ended() {
            return Err(format!("the VM ended before it was ready: {what}"));
        }
        if started.elapsed() > timeout {
            return Err(format!("the VM was not ready after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Asks the router to stop, then terminates QEMU if it does not exit.
fn stop_child(child: &mut Child, control: &Path) {
    let _ = super::ctl::call_with_timeout(
        control,
        &super::ctl::Request::Write("stop".into(), String::new()),
        Duration::from_millis(500),
    );
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(child.id(), "TERM");
}

fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    flag
}

fn shell_words(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        let a = arg.to_string_lossy();
        if a.contains([' ', '"', '\'']) {
            s.push_str(&format!(" '{a}'"));
        } else {
            s.push(' ');
            s.push_str(&a);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nic_specs() {
        assert_eq!(
            Nic::parse("dgram:10001:10002"),
            Ok(Nic::Dgram {
                local: 10001,
                remote: 10002
            })
        );
        assert_eq!(
            Nic::parse("tap:tap0"),
            Ok(Nic::Tap {
                ifname: "tap0".into()
            })
        );
        for bad in [
            "dgram:1",
            "dgram:x:2",
            "tap:",
            "eth:1",
            "tap:averyveryverylongname",
        ] {
            assert!(Nic::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(nic_mac(0), "52:54:00:12:34:50");
        assert_eq!(nic_mac(1), "52:54:00:12:34:51");
    }

    #[test]
    fn q35_nics_sit_on_the_root_bus_in_order_without_option_roms() {
        assert_eq!(
            nic_device(Machine::Q35, 0),
            "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:50,addr=0x2,romfile="
        );
        assert_eq!(
            nic_device(Machine::Q35, 14),
            "virtio-net-pci,netdev=n14,mac=52:54:00:12:34:5e,addr=0x10,romfile="
        );
        assert_eq!(
            nic_device(Machine::Microvm, 1),
            "virtio-net-device,netdev=n1,mac=52:54:00:12:34:51"
        );
        assert!(machine_options(Machine::Q35).starts_with("q35,"));
        assert!(machine_options(Machine::Microvm).starts_with("microvm,"));
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(describe_exit(Some(1)).1, ExitCode::SUCCESS);
        for s in [Some(3), Some(5), Some(7), Some(9), Some(0), None] {
            assert_eq!(describe_exit(s).1, ExitCode::FAILURE, "{s:?}");
        }
    }

    #[test]
    fn auto_never_picks_a_nested_pvm_kvm() {
        let (accel, why) = choose_accel(Accel::Auto).unwrap();
        if Path::new("/sys/module/kvm_pvm").exists() {
            assert_eq!(accel, "tcg", "{why}");
        }
    }
}
