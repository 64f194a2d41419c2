//! `sluice bench tcp IMAGE`: real TCP (iperf3) and ping through the network function VM,
//! between two Linux hosts, beside a baseline VM that only bridges.
//!
//! The lab, built afresh for each VM (namespace names carry this process's id and a
//! counter, so runs never collide and a killed run's leftovers can be recognised):
//!
//! ```text
//!  netns sluice-tcp-P-N-client     netns sluice-tcp-P-N-vm          netns sluice-tcp-P-N-server
//!  192.0.2.1/24 on TAP sl-client <-- QEMU: eth0 = sl-client, eth1 = sl-server --> TAP sl-server, 192.0.2.2/24
//! ```
//!
//! QEMU opens a TAP by name in its own namespace, so both TAPs are created in the VM's
//! namespace and the VM boots there (`sluice boot IMAGE --nic tap:sl-client --nic
//! tap:sl-server`); once it is ready each TAP moves into its host's namespace, which keeps
//! QEMU's open file. The two hosts share one subnet and know each other's MAC (permanent
//! neighbour entries), so the network function sees no ARP, only the IPv4 of the test, and
//! must forward it as a bridge does: eth0 to eth1 and the replies back. IPv6 is off in
//! every namespace, so nothing else crosses the VM.
//!
//! In each lab `iperf3 -s` runs on the server host. The TCP port is `--port`, else the
//! first of [`CANDIDATE_PORTS`] over which a short iperf3 transfer from the client gets
//! through the network function (said on standard error and in the results). `ping -c N`
//! from the client then gives the round-trip times (one ping every 0.2 s, so an idle guest
//! has gone to sleep before each: the times include its wake-up), and `iperf3 -c -t N -J`
//! the throughput, as the receiver counted it (`end.sum_received`). The baseline is an
//! image given with `--baseline`, or the bare bridge [`BRIDGE_CONFIG`] built now, measured
//! the same way over the same port, so the ratio shows what the network function costs on
//! top of the VMM, the TAP backend and the hosts' TCP stacks. With `--rounds N` the two
//! alternate N times, each round in fresh labs, so a change in the machine's load falls on
//! both; each reports its median round's throughput and every round's round trips.
//!
//! Needs root (namespaces, TAP devices), `ip` and `ss` (iproute2), `ping` and `iperf3`.
//! Every VM, server and namespace is removed by its guard's `Drop`: on success, on error
//! and on Ctrl-C; namespaces a killed run left behind are removed by the next run.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::vm::state::is_root;

use super::e2e::{build_scratch_image, scratch_dir};
use super::stats::{json_or_null, Summary};
use super::vm::{cpu_ticks, unique_name, BenchVm, Launch, CLOCK_TICKS};
use super::{print_table, progress, Json};

/// Arguments of `sluice bench tcp`.
#[derive(Debug, clap::Args)]
pub struct TcpArgs {
    /// The network function image (from `sluice build`): eth0 faces the client, eth1 the
    /// server, and it must pass TCP from eth0 to eth1 and the replies back.
    pub image: PathBuf,
    /// What to compare with: an image, or `echo` for a bare bridge built now
    /// (`FromDevice(0) -> ToDevice(1); FromDevice(1) -> ToDevice(0);`).
    #[arg(long, default_value = "echo", value_name = "IMAGE|echo")]
    pub baseline: String,
    /// Seconds of each iperf3 run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub seconds: u32,
    /// Pings for the round-trip times (one every 0.2 s).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub pings: u32,
    /// Rounds, alternating the NF VM and the baseline VM (each round boots both afresh in
    /// new namespaces); throughput is the median round's, round trips pool every round's.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// iperf3's TCP port. Default: the first of 5201 (iperf3's own), 80, 443, 22 and 8080
    /// the network function lets through.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Guest memory of both VMs.
    #[arg(long, default_value = "32M")]
    pub mem: String,
    /// Accelerator, as `sluice boot --accel`.
    #[arg(long, default_value = "auto")]
    pub accel: String,
    /// What idle VMs do, as `sluice boot --idle`: `halt` or `poll`.
    #[arg(long, default_value = "halt", value_parser = ["halt", "poll"])]
    pub idle: String,
    /// Print the results as JSON (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The baseline VM: every frame from one NIC out of the other, unchanged.
pub const BRIDGE_CONFIG: &str = "\
// The baseline VM of `sluice bench tcp`: a bare two-port bridge.
FromDevice(0) -> ToDevice(1);
FromDevice(1) -> ToDevice(0);
";

/// The ports tried, in order, when `--port` is not given: iperf3's own, then ports a
/// firewall commonly lets out (web, SSH, an alternative web port).
pub const CANDIDATE_PORTS: [u16; 5] = [5201, 80, 443, 22, 8080];

/// The client host, on eth0's side.
const CLIENT: Host = Host {
    role: "client",
    tap: "sl-client",
    addr: "192.0.2.1",
    mac: "02:00:00:00:00:01",
};
/// The server host, on eth1's side.
const SERVER: Host = Host {
    role: "server",
    tap: "sl-server",
    addr: "192.0.2.2",
    mac: "02:00:00:00:00:02",
};
/// Prefix length of the hosts' shared subnet.
const PREFIX_LEN: u8 = 24;
/// Namespace names start with this, then `PID-N-ROLE`.
const NETNS_PREFIX: &str = "sluice-tcp-";
/// How long iperf3's client waits for its control connection (ms): long enough for
/// Linux's first SYN retransmission (after 1 s), so one lost SYN is not taken for a drop.
const CONNECT_TIMEOUT_MS: u32 = 3000;
/// Seconds between pings.
const PING_INTERVAL_S: f64 = 0.2;

/// One end of the lab.
#[derive(Debug, Clone, Copy)]
struct Host {
    role: &'static str,
    /// The TAP's name (in its own namespace, so it need not be unique on the machine).
    tap: &'static str,
    addr: &'static str,
    mac: &'static str,
}

/// What one iperf3 client run reported.
#[derive(Debug, Clone, Copy)]
struct Iperf {
    /// The receiver's figure: what arrived, per second.
    received_bps: f64,
    sent_bps: f64,
    received_bytes: f64,
    retransmits: Option<f64>,
}

/// One VM's results.
struct Measured {
    accel: String,
    /// The median round's run.
    tcp: Iperf,
    /// Every round's throughput, in order (Mbit/s).
    rounds_mbit_s: Vec<f64>,
    pings_sent: u32,
    /// Per reply, µs.
    rtt_us: Vec<f64>,
    /// QEMU's CPU time over the iperf3 run, as a share of one CPU.
    qemu_cpu_percent: f64,
}

impl Measured {
    fn mbit_s(&self) -> f64 {
        self.tcp.received_bps / 1e6
    }

    fn json(&self) -> Json {
        Json::obj([
            ("mbit_s", Json::num(self.mbit_s())),
            ("rounds_mbit_s", Json::nums(&self.rounds_mbit_s)),
            ("bits_per_second", Json::num(self.tcp.received_bps)),
            ("sender_mbit_s", Json::num(self.tcp.sent_bps / 1e6)),
            ("received_bytes", Json::num(self.tcp.received_bytes)),
            (
                "retransmits",
                self.tcp.retransmits.map_or(Json::Null, Json::num),
            ),
            ("pings_sent", Json::num(self.pings_sent)),
            ("pings_received", Json::num(self.rtt_us.len() as f64)),
            ("rtt_us", json_or_null(Summary::of(&self.rtt_us))),
            ("qemu_cpu_percent", Json::num(self.qemu_cpu_percent)),
        ])
    }
}

/// How the port was settled.
struct Port {
    port: u16,
    /// The candidates tried before it that the network function dropped.
    dropped: Vec<u16>,
}

pub fn run(args: &TcpArgs) -> Result<(), String> {
    std::fs::metadata(&args.image).map_err(|e| format!("{}: {e}", args.image.display()))?;
    preflight()?;
    remove_leftovers();
    let result = measure_both(args);
    if let Ok(dir) = scratch_dir() {
        let _ = std::fs::remove_dir_all(dir);
    }
    let both = result?;
    if args.json {
        print_json(args, &both);
    } else {
        print_text(args, &both);
    }
    Ok(())
}

/// Fails, saying what to do, unless this runs as root with every tool the lab uses.
fn preflight() -> Result<(), String> {
    if !is_root() {
        return Err(
            "not root: the TCP bench creates network namespaces and TAP devices; run it as \
             root (sudo sluice bench tcp ...)"
                .into(),
        );
    }
    let tools: [(&str, &str, &str); 4] = [
        ("ip", "-V", "iproute2"),
        ("ss", "-V", "iproute2"),
        ("ping", "-V", "iputils-ping"),
        ("iperf3", "--version", "iperf3"),
    ];
    let missing: Vec<&(&str, &str, &str)> = tools
        .iter()
        .filter(|(tool, arg, _)| {
            Command::new(tool)
                .arg(arg)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|t| t.0).collect();
    let mut packages: Vec<&str> = missing.iter().map(|t| t.2).collect();
    packages.dedup();
    Err(format!(
        "the TCP bench needs {}, not found here: apt-get install {} (or run scripts/setup)",
        names.join(", "),
        packages.join(" ")
    ))
}

/// Both VMs' results and how they were obtained.
struct Comparison {
    nf: Measured,
    baseline: Measured,
    port: Port,
    baseline_image: PathBuf,
    /// Whether the baseline is the bridge built now.
    built: bool,
}

impl Comparison {
    /// NF throughput over the baseline's.
    fn ratio(&self) -> f64 {
        self.nf.mbit_s() / self.baseline.mbit_s()
    }

    /// The round-trip summaries of the NF VM and the baseline VM.
    fn rtts(&self) -> (Option<Summary>, Option<Summary>) {
        (
            Summary::of(&self.nf.rtt_us),
            Summary::of(&self.baseline.rtt_us),
        )
    }

    /// What the NF's round trip adds to the baseline's, by `f` (the median, the p99), µs.
    fn rtt_added(&self, f: fn(&Summary) -> f64) -> Option<f64> {
        match self.rtts() {
            (Some(a), Some(b)) => Some(f(&a) - f(&b)),
            _ => None,
        }
    }
}

/// Measures the NF VM, settling the port, then the baseline over the same port, `--rounds`
/// times alternately.
fn measure_both(args: &TcpArgs) -> Result<Comparison, String> {
    let built = args.baseline == "echo";
    if !built {
        std::fs::metadata(&args.baseline)
            .map_err(|e| format!("--baseline {}: {e}", args.baseline))?;
    }
    if args.rounds > 1 {
        progress(format!("round 1 of {}", args.rounds));
    }
    let (first, port) = measure(args, "nf", &args.image, args.port)?;
    // Built once the network function is known to pass the flow, so a refusal comes first.
    let baseline = if built {
        build_scratch_image("bridge", BRIDGE_CONFIG, "the baseline bridge image")?
    } else {
        PathBuf::from(&args.baseline)
    };
    let (mut nfs, mut bares) = (vec![first], Vec::new());
    for round in 1..=args.rounds {
        if round > 1 {
            progress(format!("round {round} of {}", args.rounds));
            nfs.push(measure(args, "nf", &args.image, Some(port.port))?.0);
        }
        bares.push(measure(args, "baseline", &baseline, Some(port.port))?.0);
    }
    Ok(Comparison {
        nf: merge(nfs),
        baseline: merge(bares),
        port,
        baseline_image: baseline,
        built,
    })
}

fn print_json(args: &TcpArgs, c: &Comparison) {
    let (nf, port) = (&c.nf, &c.port);
    let added = |f| c.rtt_added(f).map_or(Json::Null, Json::num);
    let json = Json::obj([
        ("command", Json::str("tcp")),
        ("image", Json::str(args.image.display().to_string())),
        (
            "baseline_image",
            Json::str(c.baseline_image.display().to_string()),
        ),
        ("baseline_built", Json::Bool(c.built)),
        ("accel", Json::str(nf.accel.clone())),
        ("idle", Json::str(args.idle.clone())),
        ("backend", Json::str("tap")),
        ("mem", Json::str(args.mem.clone())),
        ("client", Json::str(CLIENT.addr)),
        ("server", Json::str(SERVER.addr)),
        ("port", Json::num(port.port)),
        (
            "ports_dropped",
            Json::Arr(port.dropped.iter().map(|&p| Json::num(p)).collect()),
        ),
        ("seconds", Json::num(args.seconds)),
        ("pings", Json::num(args.pings)),
        ("rounds", Json::num(args.rounds)),
        ("nf", nf.json()),
        ("baseline", c.baseline.json()),
        ("ratio", Json::num(c.ratio())),
        ("rtt_added_p50_us", added(|s: &Summary| s.median)),
        ("rtt_added_p99_us", added(|s: &Summary| s.p99)),
    ]);
    println!("{json}");
}

fn print_text(args: &TcpArgs, c: &Comparison) {
    let (nf, bare, port) = (&c.nf, &c.baseline, &c.port);
    let (nf_rtt, bare_rtt) = c.rtts();
    let ms = |s: Option<Summary>, f: fn(&Summary) -> f64| {
        s.map_or("-".into(), |s| format!("{:.3}", f(&s) / 1000.0))
    };
    let plus = |f| {
        c.rtt_added(f)
            .map_or("-".into(), |us| format!("{:+.3}", us / 1000.0))
    };
    let row = |label: &str, m: &Measured, rtt: Option<Summary>| {
        vec![
            label.to_string(),
            format!("{:.1}", m.mbit_s()),
            ms(rtt, |s| s.median),
            ms(rtt, |s| s.p99),
            format!("{}/{}", m.rtt_us.len(), m.pings_sent),
            m.tcp.retransmits.map_or("-".into(), |r| format!("{r:.0}")),
            format!("{:.0}%", m.qemu_cpu_percent),
        ]
    };
    let rounds = if args.rounds > 1 {
        format!("; median of {} rounds", args.rounds)
    } else {
        String::new()
    };
    print_table(
        &format!(
            "sluice bench tcp {} (accel {}, idle {}, TAP NICs; iperf3 {} -> {}:{}, {} s; {} pings{rounds})",
            args.image.display(),
            nf.accel,
            args.idle,
            CLIENT.addr,
            SERVER.addr,
            port.port,
            args.seconds,
            args.pings,
        ),
        &[
            vec![
                String::new(),
                "TCP Mbit/s".into(),
                "RTT p50 ms".into(),
                "RTT p99 ms".into(),
                "replies".into(),
                "retransmits".into(),
                "QEMU CPU".into(),
            ],
            row("NF VM", nf, nf_rtt),
            row("baseline VM", bare, bare_rtt),
            vec![
                "NF / baseline".into(),
                format!("{:.1}%", 100.0 * c.ratio()),
                plus(|s: &Summary| s.median),
                plus(|s: &Summary| s.p99),
            ],
        ],
    );
    if args.rounds > 1 {
        let list = |m: &Measured| {
            m.rounds_mbit_s
                .iter()
                .map(|x| format!("{x:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  Mbit/s by round: NF {}; baseline {}",
            list(nf),
            list(bare)
        );
    }
    if !port.dropped.is_empty() {
        println!(
            "  TCP port {0} (iperf3 -p {0}): the network function drops {1}",
            port.port,
            ports_text(&port.dropped)
        );
    }
    if c.built {
        println!(
            "  baseline: a bare bridge, FromDevice(0) -> ToDevice(1); FromDevice(1) -> ToDevice(0)"
        );
    }
}

/// One result from several rounds of one VM: the run of the median round by throughput (the
/// lower middle one of an even number), every round's round trips together.
fn merge(mut rounds: Vec<Measured>) -> Measured {
    let rounds_mbit_s: Vec<f64> = rounds.iter().map(Measured::mbit_s).collect();
    let rtt_us: Vec<f64> = rounds.iter().flat_map(|r| r.rtt_us.clone()).collect();
    let pings_sent = rounds.iter().map(|r| r.pings_sent).sum();
    rounds.sort_by(|a, b| a.mbit_s().total_cmp(&b.mbit_s()));
    let mut median = rounds.swap_remove((rounds.len() - 1) / 2);
    median.rounds_mbit_s = rounds_mbit_s;
    median.rtt_us = rtt_us;
    median.pings_sent = pings_sent;
    median
}

/// `5201` or `5201, 80 and 443`.
fn ports_text(ports: &[u16]) -> String {
    let all: Vec<String> = ports.iter().map(u16::to_string).collect();
    match all.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("TCP to {} and {last}", rest.join(", ")),
        _ => format!("TCP to {}", all.join("")),
    }
}

/// Boots `image` in a fresh lab and measures it: TCP on `port` (else the first candidate
/// that gets through), then ping, then iperf3.
fn measure(
    args: &TcpArgs,
    label: &str,
    image: &Path,
    port: Option<u16>,
) -> Result<(Measured, Port), String> {
    let launch = Launch {
        image: image.into(),
        mem: args.mem.clone(),
        accel: args.accel.clone(),
        idle: args.idle.clone(),
        machine: "microvm".into(),
        ready_timeout: Duration::from_secs(30),
    };
    progress(format!(
        "{label}: booting {} between two namespaces",
        image.display()
    ));
    let mut lab = Lab::start(&launch, label)?;
    let port = lab.settle_port(port)?;

    progress(format!("{label}: {} pings", args.pings));
    let rtt_us = lab.ping(args.pings)?;
    if rtt_us.is_empty() {
        return Err(format!(
            "{label}: no ping got an answer: the network function drops ICMP echo from {} \
             (eth0's side) to {} (eth1's side) or the replies: allow `icmp type echo` from \
             eth0 and `icmp type echo-reply` from eth1",
            CLIENT.addr, SERVER.addr
        ));
    }
    if rtt_us.len() < args.pings as usize {
        progress(format!(
            "{label}: {} of {} pings answered",
            rtt_us.len(),
            args.pings
        ));
    }

    progress(format!(
        "{label}: iperf3 for {} s, TCP {} -> {}:{}",
        args.seconds, CLIENT.addr, SERVER.addr, port.port
    ));
    let pid = lab.vm.as_ref().map(|vm| vm.pid);
    let ticks_before = pid.and_then(cpu_ticks);
    let started = Instant::now();
    let tcp = lab.iperf(port.port, &["-t", &args.seconds.to_string()])?;
    let elapsed = started.elapsed().as_secs_f64();
    let qemu_cpu_percent = match (ticks_before, pid.and_then(cpu_ticks)) {
        (Some(a), Some(b)) => (b.saturating_sub(a)) as f64 / CLOCK_TICKS as f64 / elapsed * 100.0,
        _ => f64::NAN,
    };
    if tcp.received_bps <= 0.0 {
        return Err(format!(
            "{label}: iperf3 connected to {}:{} but no data arrived: the network function \
             lets the connection's first packets through and drops the rest",
            SERVER.addr, port.port
        ));
    }
    let rtt = Summary::of(&rtt_us);
    progress(format!(
        "{label}: {:.1} Mbit/s, RTT p50 {:.3} ms",
        tcp.received_bps / 1e6,
        rtt.map_or(f64::NAN, |s| s.median / 1000.0)
    ));
    let accel = lab.vm.as_ref().map_or("?".into(), |vm| vm.accel.clone());
    Ok((
        Measured {
            accel,
            tcp,
            rounds_mbit_s: vec![tcp.received_bps / 1e6],
            pings_sent: args.pings,
            rtt_us,
            qemu_cpu_percent,
        },
        port,
    ))
}

/// The namespaces, the VM between them and the servers in them; all removed on drop.
struct Lab {
    label: String,
    vm_ns: String,
    client_ns: String,
    server_ns: String,
    /// Namespaces created so far (deleted on drop, which destroys the TAPs in them).
    created: Vec<String>,
    vm: Option<BenchVm>,
    servers: Vec<Child>,
    /// Where the servers' and tools' output goes.
    scratch: PathBuf,
}

impl Lab {
    /// Creates the namespaces and TAPs, boots the VM in its namespace, then moves each TAP
    /// to its host and gives it the host's MAC, address and neighbour.
    fn start(launch: &Launch, label: &str) -> Result<Lab, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let prefix = format!(
            "{NETNS_PREFIX}{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut lab = Lab {
            label: label.into(),
            vm_ns: format!("{prefix}-vm"),
            client_ns: format!("{prefix}-{}", CLIENT.role),
            server_ns: format!("{prefix}-{}", SERVER.role),
            created: Vec::new(),
            vm: None,
            servers: Vec::new(),
            scratch: scratch_dir()?,
        };
        for ns in [
            lab.vm_ns.clone(),
            lab.client_ns.clone(),
            lab.server_ns.clone(),
        ] {
            ip(&["netns", "add", &ns])?;
            lab.created.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            // Best effort: without IPv6 the VM sees only the test's traffic.
            for key in ["all", "default"] {
                let _ = lab
                    .command(
                        &ns,
                        &[
                            "sysctl",
                            "-qw",
                            &format!("net.ipv6.conf.{key}.disable_ipv6=1"),
                        ],
                    )
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        for host in [CLIENT, SERVER] {
            ip(&[
                "-n", &lab.vm_ns, "tuntap", "add", "dev", host.tap, "mode", "tap",
            ])?;
        }
        let nics = [format!("tap:{}", CLIENT.tap), format!("tap:{}", SERVER.tap)];
        let name = unique_name(&format!("tcp-{label}"));
        lab.vm = Some(launch.start_in(Some(&lab.vm_ns), &name, &nics)?);
        for (host, peer, ns) in [
            (CLIENT, SERVER, lab.client_ns.clone()),
            (SERVER, CLIENT, lab.server_ns.clone()),
        ] {
            ip(&["-n", &lab.vm_ns, "link", "set", host.tap, "netns", &ns])?;
            ip(&["-n", &ns, "link", "set", host.tap, "address", host.mac])?;
            let addr = format!("{}/{PREFIX_LEN}", host.addr);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", host.tap])?;
            ip(&["-n", &ns, "link", "set", host.tap, "up"])?;
            ip(&[
                "-n",
                &ns,
                "neigh",
                "replace",
                peer.addr,
                "lladdr",
                peer.mac,
                "dev",
                host.tap,
                "nud",
                "permanent",
            ])?;
        }
        Ok(lab)
    }

    /// `ip netns exec NS ARGS...`.
    fn command(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs a tool in namespace `ns` with its output in files; kills it after `limit` or
    /// on Ctrl-C. Returns its status and standard output and error.
    fn run_bounded(
        &self,
        ns: &str,
        args: &[&str],
        limit: Duration,
    ) -> Result<(ExitStatus, String, String), String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let out_path = self.scratch.join(format!("{}-{n}.out", args[0]));
        let err_path = self.scratch.join(format!("{}-{n}.err", args[0]));
        let create = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
        let mut child = self
            .command(ns, args)
            .stdout(create(&out_path)?)
            .stderr(create(&err_path)?)
            .spawn()
            .map_err(|e| format!("{}: {e}", args.join(" ")))?;
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break Ok(status);
            }
            let stop = super::check_interrupt().err().or_else(|| {
                (start.elapsed() > limit).then(|| {
                    format!(
                        "{}: `{}` did not finish within {} s",
                        self.label,
                        args.join(" "),
                        limit.as_secs()
                    )
                })
            });
            if let Some(why) = stop {
                let _ = child.kill();
                let _ = child.wait();
                break Err(why);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let (out, err) = (read(&out_path), read(&err_path));
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        Ok((status?, out, err))
    }

    /// Starts `iperf3 -s` on the server host's address and `port`, and waits until it
    /// listens.
    fn start_server(&mut self, port: u16) -> Result<(), String> {
        let log = self.scratch.join(format!("iperf3-server-{port}.log"));
        let file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let port_text = port.to_string();
        let child = self
            .command(
                &self.server_ns,
                &["iperf3", "-s", "-B", SERVER.addr, "-p", &port_text],
            )
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("cannot start iperf3 -s: {e}"))?;
        self.servers.push(child);
        let want = format!("{}:{port}", SERVER.addr);
        let start = Instant::now();
        loop {
            super::check_interrupt()?;
            let out = self
                .command(&self.server_ns, &["ss", "-Hltn"])
                .output()
                .map_err(|e| format!("ss: {e}"))?;
            if String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .any(|field| field == want)
            {
                return Ok(());
            }
            let server = self.servers.last_mut().expect("just pushed");
            if let Ok(Some(status)) = server.try_wait() {
                return Err(format!(
                    "iperf3 -s -p {port} on {} ended ({status}):\n{}",
                    SERVER.addr,
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "iperf3 -s does not listen on {want} after 10 s:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops every server started so far.
    fn stop_servers(&mut self) {
        for mut server in self.servers.drain(..) {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Runs the iperf3 client against the server on `port` with `extra` arguments
    /// (`-t 10`, `-n 64K`); the run's figures, or why it failed.
    fn iperf(&self, port: u16, extra: &[&str]) -> Result<Iperf, String> {
        let port_text = port.to_string();
        let connect = CONNECT_TIMEOUT_MS.to_string();
        let mut args = vec![
            "iperf3",
            "-c",
            SERVER.addr,
            "-p",
            &port_text,
            "-J",
            "--connect-timeout",
            &connect,
        ];
        args.extend_from_slice(extra);
        // The run itself, connecting, and the final exchange of results, with room to spare.
        let seconds = extra
            .windows(2)
            .find(|w| w[0] == "-t")
            .and_then(|w| w[1].parse::<u64>().ok())
            .unwrap_or(0);
        let limit = Duration::from_secs(seconds + 30);
        let (status, out, err) = self.run_bounded(&self.client_ns, &args, limit)?;
        let json = Json::parse(&out).ok();
        let said = json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Json::as_str)
            .map(str::to_string);
        if !status.success() || said.is_some() {
            return Err(said.unwrap_or_else(|| format!("{out}{err}").trim().to_string()));
        }
        let json = json
            .ok_or_else(|| format!("iperf3 printed no JSON:\n{}", format!("{out}{err}").trim()))?;
        let get = |path: &[&str]| json.at(path).and_then(Json::as_f64);
        Ok(Iperf {
            received_bps: get(&["end", "sum_received", "bits_per_second"])
                .ok_or("iperf3's JSON has no end.sum_received.bits_per_second")?,
            sent_bps: get(&["end", "sum_sent", "bits_per_second"]).unwrap_or(f64::NAN),
            received_bytes: get(&["end", "sum_received", "bytes"]).unwrap_or(f64::NAN),
            retransmits: get(&["end", "sum_sent", "retransmits"]),
        })
    }

    /// Starts the iperf3 server on `asked`, or on the first candidate port over which a
    /// short transfer gets through the network function.
    fn settle_port(&mut self, asked: Option<u16>) -> Result<Port, String> {
        let candidates: Vec<u16> = match asked {
            Some(p) => vec![p],
            None => CANDIDATE_PORTS.to_vec(),
        };
        let mut dropped = Vec::new();
        for &port in &candidates {
            super::check_interrupt()?;
            self.start_server(port)?;
            // iperf3 finishing without an error means both its connections (control and
            // data, the same port) were let through: a firewall decides on the handshake.
            // The bytes its receiver reports are no test here: a short transfer's end can
            // reach the server over the control connection before the data does through
            // a slow VM, so a few kilobytes may show as none. A connection that times out
            // was dropped; any other failure may be the machine's load, so it gets a
            // second try.
            let probe = || self.iperf(port, &["-n", "64K"]);
            let result = match probe() {
                Err(e) if !e.contains("timed out") => probe(),
                first => first,
            };
            let why = match result {
                Ok(_) => {
                    if !dropped.is_empty() {
                        progress(format!(
                            "{}: TCP port {port} (iperf3 -p {port}): the network function \
                             drops {}",
                            self.label,
                            ports_text(&dropped)
                        ));
                    }
                    return Ok(Port { port, dropped });
                }
                Err(e) => e,
            };
            progress(format!(
                "{}: TCP {} -> {}:{port} does not get through ({why})",
                self.label, CLIENT.addr, SERVER.addr
            ));
            self.stop_servers();
            dropped.push(port);
        }
        let how = "allow TCP from eth0 to that port and the replies (TCP from that source \
                   port) from eth1";
        Err(match asked {
            Some(p) => format!(
                "{}: the network function drops TCP {} -> {}:{p} (iperf3, client on eth0's \
                 side, server on eth1's): {how}",
                self.label, CLIENT.addr, SERVER.addr
            ),
            None => format!(
                "{}: the network function drops TCP {} -> {} on each of ports {} (iperf3, \
                 client on eth0's side, server on eth1's): {how}, or pass --port PORT for \
                 a port it lets through",
                self.label,
                CLIENT.addr,
                SERVER.addr,
                dropped
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
    }

    /// `ping -c count` from the client to the server; the round-trip time of each reply, µs.
    fn ping(&self, count: u32) -> Result<Vec<f64>, String> {
        let count_text = count.to_string();
        let interval = PING_INTERVAL_S.to_string();
        let limit = Duration::from_secs_f64(f64::from(count) * PING_INTERVAL_S + 30.0);
        let (_, out, err) = self.run_bounded(
            &self.client_ns,
            &[
                "ping",
                "-n",
                "-c",
                &count_text,
                "-i",
                &interval,
                "-W",
                "2",
                SERVER.addr,
            ],
            limit,
        )?;
        if !out.contains("packets transmitted") {
            return Err(format!("{}: ping failed:\n{}{}", self.label, out, err));
        }
        Ok(ping_times_us(&out))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_servers();
        // QEMU first, then the namespaces (deleting one destroys the TAPs in it).
        drop(self.vm.take());
        for ns in self.created.drain(..) {
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `ip ARGS` in this namespace; fails with what it said.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The `time=` of every reply line of ping's output, in µs.
fn ping_times_us(out: &str) -> Vec<f64> {
    out.lines()
        .filter(|l| l.contains(" bytes from "))
        .filter_map(|l| l.split_whitespace().find_map(|f| f.strip_prefix("time=")))
        .filter_map(|t| t.parse::<f64>().ok())
        .map(|ms| ms * 1000.0)
        .collect()
}

/// Deletes namespaces of runs that were killed before their guards could run (their names
/// carry the process id of a process that is gone).
fn remove_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(NETNS_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ping_times() {
        let out = "PING 192.0.2.2 (192.0.2.2) 56(84) bytes of data.\n\
                   64 bytes from 192.0.2.2: icmp_seq=1 ttl=64 time=0.412 ms\n\
                   64 bytes from 192.0.2.2: icmp_seq=3 ttl=64 time=1.50 ms\n\
                   \n--- 192.0.2.2 ping statistics ---\n\
                   3 packets transmitted, 2 received, 33.3333% packet loss, time 401ms\n\
                   rtt min/avg/max/mdev = 0.412/0.956/1.500/0.544 ms\n";
        assert_eq!(ping_times_us(out), vec![412.0, 1500.0]);
    }

    #[test]
    fn names_dropped_ports() {
        assert_eq!(ports_text(&[5201]), "TCP to 5201");
        assert_eq!(ports_text(&[5201, 80, 443]), "TCP to 5201, 80 and 443");
    }
}
