//! `sluice deploy libvirt IMAGE --name NAME --nic ...`: runs an image as a libvirt domain,
//! for hosts where libvirt (under OpenStack Nova, KubeVirt, oVirt or virt-manager) runs the
//! VMs rather than `sluice boot`.
//!
//! The domain is the one `sluice boot` would start, written as libvirt XML: QEMU's microvm
//! machine (or with `--machine q35` a q35 PC), the image as a direct kernel, the guest's
//! command line (the host's TSC frequency, `idle=`), the console (the first ISA serial port)
//! to a log file, the control channel (the second) to a UNIX socket libvirt listens on, and
//! each `--nic` as a virtio-net device, in order (`eth0` = `FromDevice(0)` first) with the
//! MACs `sluice boot` gives: on microvm on virtio-mmio, on q35 a virtio-pci function without
//! an option ROM at the PCI address libvirt picks (behind a PCI Express root port of its
//! own, the ports in the order of the interfaces, which is the order the guest numbers them
//! in). What libvirt's schema has no element for (`isa-debug-exit`, through which the guest
//! reports how it ended, and on microvm modern virtio-mmio) goes in a `qemu:commandline`
//! block.
//!
//! Without `--start` the XML goes to standard output (or `-o FILE`) for the operator's own
//! tooling. With `--start` the domain is defined and started through `virsh` (`-c URI` as
//! virsh takes it), the launcher waits for the guest's `ready` line in the console log and
//! records the VM in the runtime directory, so `sluice ps`, `sluice ctl NAME`, `sluice logs
//! NAME` and `sluice stop NAME` work on it as on a VM of `sluice boot`. `sluice stop` asks the
//! router to stop, then destroys the domain through libvirt; the domain stays defined, so
//! `virsh start NAME` starts it again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use super::boot::{choose_accel, guest_fields, host_tsc_khz, nic_mac, wait_ready_in_file, Accel};
use super::boot::{valid_name, Idle, Machine, Q35_MAX_NICS};
use super::state::{runtime_dir, VmRecord};
use super::{fail, image};

/// The libvirt client.
pub const VIRSH: &str = "virsh";

/// Arguments of `sluice deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    #[command(subcommand)]
    pub engine: Engine,
}

/// Where to deploy.
#[derive(Debug, clap::Subcommand)]
pub enum Engine {
    /// As a libvirt domain: write its XML, or define and start it (`--start`).
    Libvirt(LibvirtArgs),
}

/// Arguments of `sluice deploy libvirt`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sluice deploy libvirt fw.elf --name fw --nic network:default --nic bridge:br0 > fw.xml\n  \
    sluice deploy libvirt fw.elf --name fw --nic bridge:br-in --nic bridge:br-out --start\n  \
    sluice ctl fw read c.count")]
pub struct LibvirtArgs {
    /// The image (from `sluice build`).
    pub image: PathBuf,
    /// The domain's name (also the VM's name for `sluice ps`, `ctl`, `logs`, `stop`).
    #[arg(long)]
    pub name: String,
    /// A NIC, in order: `network:NAME` (a libvirt network), `bridge:BRIDGE` (a host bridge;
    /// libvirt adds a TAP device to it) or `tap:IFNAME` (an existing TAP device).
    #[arg(long = "nic", value_name = "SPEC")]
    pub nics: Vec<String>,
    /// Guest memory (8M, 16M, 1280K; a plain number is MiB).
    #[arg(long, default_value = "8M")]
    pub mem: String,
    /// The machine type: `microvm` (virtio-mmio NICs, no firmware) or `q35` (a PC with
    /// SeaBIOS and virtio-pci NICs, what most libvirt tooling expects).
    #[arg(long, value_enum, default_value_t = Machine::Microvm)]
    pub machine: Machine,
    /// Accelerator: `auto` takes KVM only where it really accelerates (a `kvm` domain),
    /// else TCG (a `qemu` domain).
    #[arg(long, value_enum, default_value_t = Accel::Auto)]
    pub accel: Accel,
    /// What the guest does while no packets arrive (see `sluice boot --idle`).
    #[arg(long, value_enum, default_value_t = Idle::Halt)]
    pub idle: Idle,
    /// Extra kernel command-line words (`pool=512`, `loglevel=debug`).
    #[arg(long, value_name = "WORDS")]
    pub append: Vec<String>,
    /// The control socket (default `<runtime dir>/<name>.ctl`).
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
    /// The console log (default `<runtime dir>/<name>.log`).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Write the domain XML to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE", conflicts_with = "start")]
    pub output: Option<PathBuf>,
    /// Define and start the domain, wait until the guest is ready, and record it for
    /// `sluice ps`, `ctl`, `logs` and `stop`.
    #[arg(long)]
    pub start: bool,
    /// The libvirt connection URI, as `virsh -c` takes it (default: virsh's own, e.g.
    /// `LIBVIRT_DEFAULT_URI`).
    #[arg(short = 'c', long = "connect", value_name = "URI")]
    pub uri: Option<String>,
    /// With `--start`: give up if the guest is not ready after this long.
    #[arg(long, default_value = "30s", value_parser = super::state::parse_duration)]
    pub ready_timeout: Duration,
}

/// A NIC of a libvirt domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomainNic {
    /// `<interface type='network'>`.
    Network(String),
    /// `<interface type='bridge'>`.
    Bridge(String),
    /// `<interface type='ethernet'>` on an existing TAP device.
    Tap(String),
}

impl DomainNic {
    /// Parses `network:NAME`, `bridge:BRIDGE` or `tap:IFNAME`.
    pub fn parse(spec: &str) -> Result<DomainNic, String> {
        let bad =
            || format!("bad --nic '{spec}': expected network:NAME, bridge:BRIDGE or tap:IFNAME");
        let (kind, name) = spec.split_once(':').ok_or_else(bad)?;
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(bad());
        }
        let ifname = |n: &str| {
            if n.len() < 16 && !n.contains('/') {
                Ok(n.to_string())
            } else {
                Err(format!(
                    "bad --nic '{spec}': '{n}' is not an interface name (at most 15 characters, no '/')"
                ))
            }
        };
        match kind {
            "network" => Ok(DomainNic::Network(name.into())),
            "bridge" => Ok(DomainNic::Bridge(ifname(name)?)),
            "tap" => Ok(DomainNic::Tap(ifname(name)?)),
            _ => Err(bad()),
        }
    }

    fn xml(&self, index: usize, machine: Machine) -> String {
        let (kind, source) = match self {
            DomainNic::Network(n) => ("network", format!("<source network='{}'/>", esc(n))),
            DomainNic::Bridge(b) => ("bridge", format!("<source bridge='{}'/>", esc(b))),
            DomainNic::Tap(t) => (
                "ethernet",
                format!("<target dev='{}' managed='no'/>", esc(t)),
            ),
        };
        // On q35 libvirt picks the PCI address; no option ROM (SeaBIOS would run its network
        // boot code).
        let placement = match machine {
            Machine::Microvm => "<address type='virtio-mmio'/>",
            Machine::Q35 => "<rom enabled='no'/>",
        };
        format!(
            "    <interface type='{kind}'>\n      <mac address='{}'/>\n      {source}\n      \
             <model type='virtio'/>\n      {placement}\n    </interface>\n",
            nic_mac(index)
        )
    }
}

/// Everything the domain XML says.
#[derive(Debug, Clone)]
pub struct Domain {
    pub name: String,
    /// The UUID of the domain of this name that libvirt already has, which a definition
    /// must carry to replace it.
    pub uuid: Option<String>,
    pub image: PathBuf,
    pub mem_kib: u64,
    pub machine: Machine,
    /// `qemu` (TCG) or `kvm`.
    pub kind: &'static str,
    pub cmdline: String,
    pub console: PathBuf,
    pub control: PathBuf,
    pub nics: Vec<DomainNic>,
}

/// Escapes text for an XML attribute or element.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

impl Domain {
    /// The domain XML.
    pub fn xml(&self) -> String {
        let path = |p: &Path| esc(&p.display().to_string());
        let mut x = String::new();
        x.push_str(&format!(
            "<domain type='{}' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n",
            self.kind
        ));
        x.push_str(&format!("  <name>{}</name>\n", esc(&self.name)));
        if let Some(uuid) = &self.uuid {
            x.push_str(&format!("  <uuid>{}</uuid>\n", esc(uuid)));
        }
        x.push_str(&format!(
            "  <memory unit='KiB'>{}</memory>\n  <vcpu>1</vcpu>\n",
            self.mem_kib
        ));
        x.push_str(&format!(
            "  <os>\n    <type arch='x86_64' machine='{}'>hvm</type>\n",
            self.machine.as_str()
        ));
        x.push_str(&format!("    <kernel>{}</kernel>\n", path(&self.image)));
        x.push_str(&format!(
            "    <cmdline>{}</cmdline>\n  </os>\n",
            esc(&self.cmdline)
        ));
        if self.kind == "kvm" {
            x.push_str("  <cpu mode='host-passthrough'/>\n");
        }
        // The guest powers off through isa-debug-exit: nothing to restart.
        x.push_str(
            "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n  \
             <on_crash>destroy</on_crash>\n",
        );
        x.push_str("  <devices>\n");
        x.push_str("    <controller type='usb' model='none'/>\n");
        x.push_str("    <memballoon model='none'/>\n");
        x.push_str(&format!(
            "    <serial type='file'>\n      <source path='{}'/>\n      \
             <target type='isa-serial' port='0'/>\n    </serial>\n",
            path(&self.console)
        ));
        x.push_str(&format!(
            "    <serial type='unix'>\n      <source mode='bind' path='{}'/>\n      \
             <target type='isa-serial' port='1'/>\n    </serial>\n",
            path(&self.control)
        ));
        for (i, nic) in self.nics.iter().enumerate() {
            x.push_str(&nic.xml(i, self.machine));
        }
        x.push_str("  </devices>\n");
        x.push_str("  <qemu:commandline>\n");
        let mut args = vec!["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"];
        if self.machine == Machine::Microvm {
            args.extend(["-global", "virtio-mmio.force-legacy=false"]);
        }
        for arg in args {
            x.push_str(&format!("    <qemu:arg value='{arg}'/>\n"));
        }
        x.push_str("  </qemu:commandline>\n</domain>\n");
        x
    }
}

/// Parses guest memory as `--mem` takes it (QEMU's `-m`: a plain number is MiB) into KiB.
pub fn parse_mem_kib(s: &str) -> Result<u64, String> {
    let bad = || format!("bad --mem '{s}': expected a size such as 8M, 1280K or 1G");
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "M"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let kib = match unit {
        "K" | "k" => Some(n),
        "M" | "m" => n.checked_mul(1024),
        "G" | "g" => n.checked_mul(1024 * 1024),
        _ => None,
    }
    .ok_or_else(bad)?;
    if kib == 0 {
        return Err(bad());
    }
    Ok(kib)
}

/// `sluice deploy`.
pub fn deploy(args: DeployArgs) -> ExitCode {
    match args.engine {
        Engine::Libvirt(a) => match libvirt(&a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail("deploy", e),
        },
    }
}

fn libvirt(args: &LibvirtArgs) -> Result<(), String> {
    let started = Instant::now();
    if !valid_name(&args.name) {
        return Err(format!(
            "bad --name '{}': use letters, digits, '-', '_' and '.'",
            args.name
        ));
    }
    let nics = args
        .nics
        .iter()
        .map(|s| DomainNic::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if args.machine == Machine::Q35 && nics.len() > Q35_MAX_NICS {
        return Err(format!(
            "{} NICs: a q35 domain takes at most {Q35_MAX_NICS}",
            nics.len()
        ));
    }
    let mem_kib = parse_mem_kib(&args.mem)?;
    image::check_pvh(&args.image).map_err(|e| e.to_string())?;
    let image = args
        .image
        .canonicalize()
        .map_err(|e| format!("{}: {e}", args.image.display()))?;
    let (accel, _) = choose_accel(args.accel)?;
    let dir = runtime_dir().map_err(|e| format!("runtime directory: {e}"))?;
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    let control = absolute(
        &args
            .control
            .clone()
            .unwrap_or_else(|| dir.join(format!("{}.ctl", args.name))),
    )?;
    let console = absolute(
        &args
            .log
            .clone()
            .unwrap_or_else(|| dir.join(format!("{}.log", args.name))),
    )?;
    // The guest's TSC ticks at this host's rate; a domain moved to another host needs its
    // `tsc_khz=` changed (or a guest with a reference timer).
    let mut cmdline = format!("tsc_khz={} idle={}", host_tsc_khz(&dir), args.idle.as_str());
    for word in &args.append {
        cmdline.push(' ');
        cmdline.push_str(word);
    }
    let virsh = Virsh::new(args.uri.clone());
    // Redefining a domain of the same name replaces it, if it is not running.
    let uuid = if args.start {
        match virsh.run(&["domstate", &args.name]) {
            Ok(state) if state.trim() == "running" || state.trim() == "paused" => {
                return Err(format!(
                    "libvirt already runs a domain named '{}' ({}); stop it first (`sluice \
                     stop {0}` or `virsh{} destroy {0}`)",
                    args.name,
                    state.trim(),
                    virsh.connect_words()
                ));
            }
            Ok(_) => Some(virsh.run(&["domuuid", &args.name])?.trim().to_string()),
            Err(_) => None,
        }
    } else {
        None
    };
    let domain = Domain {
        name: args.name.clone(),
        uuid,
        image: image.clone(),
        mem_kib,
        machine: args.machine,
        kind: if accel == "kvm" { "kvm" } else { "qemu" },
        cmdline,
        console: console.clone(),
        control: control.clone(),
        nics,
    };
    let xml = domain.xml();
    if !args.start {
        return match &args.output {
            Some(path) => {
                std::fs::write(path, &xml).map_err(|e| format!("{}: {e}", path.display()))
            }
            None => std::io::stdout()
                .write_all(xml.as_bytes())
                .map_err(|e| e.to_string()),
        };
    }

    if let Some(other) = VmRecord::load(&dir, &args.name).filter(VmRecord::alive) {
        return Err(format!(
            "a VM named '{}' is already running (pid {}); pick another --name",
            args.name, other.pid
        ));
    }
    let file = dir.join(format!("{}.xml", args.name));
    std::fs::write(&file, &xml).map_err(|e| format!("{}: {e}", file.display()))?;
    let _ = std::fs::remove_file(&console);
    let _ = std::fs::remove_file(&control);
    virsh.run(&["define", &file.display().to_string()])?;
    virsh.run(&["start", &args.name])?;
    let pid = wait_for_pid(&args.name, Duration::from_secs(5)).ok_or_else(|| {
        format!(
            "libvirt started '{}' but no QEMU process of it shows up",
            args.name
        )
    })?;
    let record = VmRecord {
        name: args.name.clone(),
        pid,
        control: control.clone(),
        image,
        nics: args.nics.clone(),
        accel: accel.into(),
        log: Some(console.clone()),
        launcher: None,
        libvirt: Some(virsh.uri_label()),
    };
    record
        .save(&dir)
        .map_err(|e| format!("recording the VM in {}: {e}", dir.display()))?;
    let ended = || (!record.alive()).then(|| "QEMU exited".to_string());
    // The timeout runs from the domain's start: libvirt's own first start on a host (its
    // probe of QEMU's capabilities) can take many seconds.
    match wait_ready_in_file(ended, &console, args.ready_timeout, Instant::now()) {
        Ok((line, _)) => {
            let arrived = started.elapsed();
            println!(
                "ready name={} libvirt={} accel={accel} launcher->ready={:.1}ms entry->ready={} \
                 control={}",
                args.name,
                virsh.uri_label(),
                arrived.as_secs_f64() * 1000.0,
                guest_fields(&line).unwrap_or("?"),
                control.display()
            );
            Ok(())
        }
        Err(e) => {
            let _ = virsh.run(&["destroy", &args.name]);
            record.forget(&dir);
            let log = std::fs::read_to_string(&console).unwrap_or_default();
            Err(format!(
                "{e}; the domain was destroyed (it stays defined: `virsh{} undefine {}` \
                 removes it){}{log}",
                virsh.connect_words(),
                args.name,
                if log.is_empty() {
                    ""
                } else {
                    "\nits console:\n"
                }
            ))
        }
    }
}

/// A `virsh` for one connection URI.
pub struct Virsh {
    uri: Option<String>,
}

impl Virsh {
    /// A client of `uri`, or of virsh's default connection.
    pub fn new(uri: Option<String>) -> Virsh {
        Virsh {
            uri: uri.filter(|u| !u.is_empty() && u != "default"),
        }
    }

    /// The URI as recorded: `default` for virsh's own.
    pub fn uri_label(&self) -> String {
        self.uri.clone().unwrap_or_else(|| "default".into())
    }

    /// ` -c URI`, or nothing, for messages that show a virsh command.
    pub fn connect_words(&self) -> String {
        self.uri
            .as_ref()
            .map_or(String::new(), |u| format!(" -c {u}"))
    }

    /// Runs `virsh [-c URI] ARGS`; an error carries what virsh said.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        let mut c = Command::new(VIRSH);
        if let Some(uri) = &self.uri {
            c.args(["-c", uri]);
        }
        let out = c.args(args).stdin(Stdio::null()).output().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "virsh is not installed: install libvirt's client (`apt-get install \
                     libvirt-clients`, and `libvirt-daemon-system` for a local libvirtd)"
                    .to_string()
            } else {
                format!("cannot run virsh: {e}")
            }
        })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let said = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "virsh{} {}: {}",
                self.connect_words(),
                args.join(" "),
                said.trim()
            ))
        }
    }
}

/// The pid of the QEMU process libvirt runs for domain `name` (QEMU's `-name guest=NAME,...`).
pub fn domain_pid(name: &str) -> Option<u32> {
    let want = format!("guest={name},");
    let exact = format!("guest={name}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let mut args = cmdline.split(|&b| b == 0);
        let exe = args.next()?;
        if !exe.ends_with(b"qemu-system-x86_64") {
            return None;
        }
        let mut args = args.map(String::from_utf8_lossy);
        while let Some(a) = args.next() {
            if a == "-name" {
                let v = args.next()?;
                return (v.starts_with(&want) || v == exact).then_some(pid);
            }
        }
        None
    })
}

fn wait_for_pid(name: &str, timeout: Duration) -> Option<u32> {
    let start = Instant::now();
    loop {
        if let Some(pid) = domain_pid(name) {
            return Some(pid);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> Domain {
        Domain {
            name: "fw".into(),
            uuid: None,
            image: "/srv/nf/fw&co.elf".into(),
            mem_kib: 8192,
            machine: Machine::Microvm,
            kind: "qemu",
            cmdline: "tsc_khz=2000000 idle=halt".into(),
            console: "/run/sluice/fw.log".into(),
            control: "/run/sluice/fw.ctl".into(),
            nics: vec![
                DomainNic::Network("default".into()),
                DomainNic::Bridge("br0".into()),
                DomainNic::Tap("tap7".into()),
            ],
        }
    }

    #[test]
    fn nic_specs() {
        assert_eq!(
            DomainNic::parse("network:default"),
            Ok(DomainNic::Network("default".into()))
        );
        assert_eq!(
            DomainNic::parse("bridge:br0"),
            Ok(DomainNic::Bridge("br0".into()))
        );
        assert_eq!(
            DomainNic::parse("tap:tap0"),
            Ok(DomainNic::Tap("tap0".into()))
        );
        for bad in [
            "br0",
            "bridge:",
            "dgram:1:2",
            "tap:a-very-long-interface",
            "tap:a/b",
        ] {
            let e = DomainNic::parse(bad).unwrap_err();
            assert!(e.starts_with(&format!("bad --nic '{bad}'")), "{e}");
        }
    }

    #[test]
    fn memory_sizes() {
        assert_eq!(parse_mem_kib("8M"), Ok(8192));
        assert_eq!(parse_mem_kib("1280K"), Ok(1280));
        assert_eq!(parse_mem_kib("1G"), Ok(1024 * 1024));
        assert_eq!(parse_mem_kib("16"), Ok(16 * 1024));
        for bad in ["", "0", "8X", "M", "-8M", "99999999999999999999G"] {
            assert!(parse_mem_kib(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domain_xml_has_what_the_guest_needs_in_order() {
        let x = domain().xml();
        assert!(x.starts_with("<domain type='qemu' "), "{x}");
        assert!(x.contains("<type arch='x86_64' machine='microvm'>hvm</type>"));
        assert!(
            x.contains("<kernel>/srv/nf/fw&amp;co.elf</kernel>"),
            "escaped: {x}"
        );
        assert!(x.contains("<cmdline>tsc_khz=2000000 idle=halt</cmdline>"));
        assert!(x.contains("<memory unit='KiB'>8192</memory>"));
        // The console is COM1, the control channel COM2.
        let console = x.find("<source path='/run/sluice/fw.log'/>").unwrap();
        let control = x
            .find("<source mode='bind' path='/run/sluice/fw.ctl'/>")
            .unwrap();
        assert!(console < control);
        assert!(x.contains("<target type='isa-serial' port='0'/>"));
        assert!(x.contains("<target type='isa-serial' port='1'/>"));
        // NICs in order, eth0 first, with sluice boot's MACs, on virtio-mmio.
        let at = |s: &str| x.find(s).unwrap_or_else(|| panic!("{s} in {x}"));
        assert!(at("<source network='default'/>") < at("<source bridge='br0'/>"));
        assert!(at("<source bridge='br0'/>") < at("<target dev='tap7' managed='no'/>"));
        assert!(at("52:54:00:12:34:50") < at("52:54:00:12:34:51"));
        assert!(at("52:54:00:12:34:51") < at("52:54:00:12:34:52"));
        assert_eq!(x.matches("<address type='virtio-mmio'/>").count(), 3);
        assert!(x.contains("<qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=0x04'/>"));
        assert!(x.contains("<qemu:arg value='virtio-mmio.force-legacy=false'/>"));
        assert!(!x.contains("host-passthrough"));
        let kvm = Domain {
            kind: "kvm",
            ..domain()
        };
        assert!(kvm.xml().contains("<cpu mode='host-passthrough'/>"));
        assert!(!x.contains("<uuid>"));
        let again = Domain {
            uuid: Some("21a6a685-269e-4eb9-85fa-2f7eced7c019".into()),
            ..domain()
        };
        assert!(again
            .xml()
            .contains("<name>fw</name>\n  <uuid>21a6a685-269e-4eb9-85fa-2f7eced7c019</uuid>\n"));
    }

    #[test]
    fn q35_domain_xml_has_pci_nics_in_order_and_no_virtio_mmio() {
        let x = Domain {
            machine: Machine::Q35,
            ..domain()
        }
        .xml();
        assert!(x.starts_with("<domain type='qemu' "), "{x}");
        assert!(
            x.contains("<type arch='x86_64' machine='q35'>hvm</type>"),
            "{x}"
        );
        assert!(!x.contains("microvm"), "{x}");
        assert!(
            !x.contains("virtio-mmio"),
            "no virtio-mmio address or global: {x}"
        );
        // Every NIC a virtio model without an option ROM, at libvirt's PCI address.
        assert_eq!(x.matches("<model type='virtio'/>").count(), 3, "{x}");
        assert_eq!(x.matches("<rom enabled='no'/>").count(), 3, "{x}");
        assert!(!x.contains("<address "), "{x}");
        let at = |s: &str| x.find(s).unwrap_or_else(|| panic!("{s} in {x}"));
        assert!(at("<source network='default'/>") < at("<source bridge='br0'/>"));
        assert!(at("<source bridge='br0'/>") < at("<target dev='tap7' managed='no'/>"));
        assert!(at("52:54:00:12:34:50") < at("52:54:00:12:34:51"));
        // The same serial ports and exit device as on microvm.
        assert!(x.contains("<target type='isa-serial' port='0'/>"));
        assert!(x.contains("<target type='isa-serial' port='1'/>"));
        assert!(x.contains("<qemu:arg value='isa-debug-exit,iobase=0xf4,iosize=0x04'/>"));
        assert_eq!(x.matches("<qemu:arg ").count(), 2, "{x}");
        // The direct kernel and its command line, as on microvm.
        assert!(x.contains("<kernel>/srv/nf/fw&amp;co.elf</kernel>"));
        assert!(x.contains("<cmdline>tsc_khz=2000000 idle=halt</cmdline>"));
    }

    #[test]
    fn escaping() {
        assert_eq!(esc("a<b>&'\"c"), "a&lt;b&gt;&amp;&apos;&quot;c");
    }
}
