//! `sluice bench e2e IMAGE`: throughput and latency through the VM, next to a bare echo VM.
//!
//! Both VMs run on the same backend (dgram NICs on 127.0.0.1), accelerator and memory. The
//! echo VM forwards every frame and does nothing else — `FromDevice(0) -> ToDevice(1)` with
//! two NICs, `FromDevice(0) -> EtherMirror -> ToDevice(0)` with one — so it shows what the
//! VMM and the backend allow, and the ratio of the two shows what the network function
//! costs on top.
//!
//! For each frame size, `--packets` frames go into eth0 with `--window` in flight and the
//! forwarded ones are counted (packets/s = forwarded / elapsed). Latency is then measured
//! with one frame in flight (`--latency-packets` round trips of the smallest size), so it
//! is the time through the VM and not queueing. The image must forward the bench's UDP
//! frames (`192.0.2.1:12345 -> 192.0.2.2:PORT`) from eth0 to eth1 (or back out of eth0 with
//! `--nics 1`): PORT is `--udp-port`, else the first common port the image is found to
//! forward.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::stats::{json_or_null, Summary};
use super::traffic::{blast, pick_flow, Blast, Nics};
use super::vm::{unique_name, Launch};
use super::{print_table, progress, CommonArgs, Json};

/// Arguments of `sluice bench e2e`.
#[derive(Debug, clap::Args)]
pub struct E2eArgs {
    /// The network function image (from `sluice build`).
    pub image: PathBuf,
    /// Frames sent per size.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub packets: u64,
    /// Frame sizes in bytes (Ethernet header and payload, no FCS).
    #[arg(long, value_delimiter = ',', default_value = "64,512,1500")]
    pub sizes: Vec<usize>,
    /// Frames in flight during the throughput runs.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub window: u64,
    /// One-at-a-time round trips for the latency figures.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub latency_packets: u64,
    /// Rounds, alternating the NF VM and the echo VM (each round boots both afresh); each
    /// size reports its median round, latency pools every round's round trips.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub rounds: u32,
    /// The echo image to compare with (default: built now with `sluice build`).
    #[arg(long, value_name = "IMAGE")]
    pub echo: Option<PathBuf>,
    /// Guest memory of both VMs.
    #[arg(long, default_value = "8M")]
    pub mem: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The echo configuration for `nics` NICs.
pub fn echo_config(nics: u8) -> &'static str {
    if nics >= 2 {
        "// The bare echo VM of `sluice bench e2e`: every frame from eth0 out of eth1.\n\
         FromDevice(0) -> ToDevice(1);\n"
    } else {
        "// The bare echo VM of `sluice bench e2e`: every frame back out of eth0.\n\
         FromDevice(0) -> EtherMirror -> ToDevice(0);\n"
    }
}

/// Builds the echo image into a temporary folder with `sluice build`.
fn build_echo(nics: u8) -> Result<PathBuf, String> {
    build_scratch_image(&format!("echo{nics}"), echo_config(nics), "the echo image")
}

/// The scratch folder of this process's bench (built images, tools' output); the caller
/// removes it when done.
pub(super) fn scratch_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("sluice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Builds `config_text` into `STEM.elf` in the scratch folder with `sluice build`; `what`
/// names the image in progress and errors.
pub(super) fn build_scratch_image(
    stem: &str,
    config_text: &str,
    what: &str,
) -> Result<PathBuf, String> {
    let dir = scratch_dir()?;
    let config = dir.join(format!("{stem}.click"));
    let image = dir.join(format!("{stem}.elf"));
    std::fs::write(&config, config_text).map_err(|e| e.to_string())?;
    progress(format!("building {what} {}", image.display()));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("build")
        .arg(&config)
        .arg("-o")
        .arg(&image)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("sluice build: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "building {what} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(image)
}

/// One VM's results.
struct Measured {
    accel: String,
    /// Per size.
    runs: Vec<(usize, Blast)>,
    latency: Blast,
}

fn launch(args: &E2eArgs, image: &Path) -> Launch {
    Launch {
        image: image.into(),
        mem: args.mem.clone(),
        accel: args.common.accel.clone(),
        idle: args.common.idle.clone(),
        machine: args.common.machine.clone(),
        ready_timeout: Duration::from_secs(30),
    }
}

/// Measures one VM of `image` with frames to UDP port `udp_port`.
fn measure(args: &E2eArgs, label: &str, image: &Path, udp_port: u16) -> Result<Measured, String> {
    let launch = launch(args, image);
    let nics = Nics::new(usize::from(args.common.nics), udp_port)?;
    progress(format!("{label}: booting {}", image.display()));
    let vm = launch.start(&unique_name(label), &nics)?;
    let idle = Duration::from_millis(300);
    // Warm up (translation caches, ARP-free path): a few hundred frames, not counted.
    let warm = blast(&nics, 64, 300, 8, idle, 1 << 48)?;
    if warm.received == 0 {
        return Err(format!(
            "{label}: the VM forwards none of the bench's frames (UDP 192.0.2.1:12345 -> \
             192.0.2.2:{udp_port} into eth0, expected out of {})",
            if args.common.nics >= 2 {
                "eth1"
            } else {
                "eth0"
            }
        ));
    }
    let mut runs = Vec::new();
    let mut seq = 0u64;
    for &size in &args.sizes {
        super::check_interrupt()?;
        let b = blast(&nics, size, args.packets, args.window, idle, seq)?;
        seq += args.packets;
        progress(format!(
            "{label}: {size} B: {:.0} packets/s ({} of {} forwarded)",
            b.pps(),
            b.received,
            b.sent
        ));
        runs.push((size, b));
    }
    let size = args.sizes.iter().copied().min().unwrap_or(64);
    let latency = blast(&nics, size, args.latency_packets, 1, idle, seq)?;
    let l = Summary::of(&latency.rtt_us);
    progress(format!(
        "{label}: round trip p50 {:.0} us",
        l.map_or(f64::NAN, |s| s.median)
    ));
    Ok(Measured {
        accel: vm.accel.clone(),
        runs,
        latency,
    })
}

/// One result from several rounds: per size the round with the median rate, latency from
/// all rounds together.
fn merge(mut rounds: Vec<Measured>) -> Measured {
    let mut first = rounds.remove(0);
    for (k, (_, b)) in first.runs.iter_mut().enumerate() {
        let mut all: Vec<Blast> = std::iter::once(b.clone())
            .chain(rounds.iter().map(|r| r.runs[k].1.clone()))
            .collect();
        all.sort_by(|x, y| x.pps().total_cmp(&y.pps()));
        *b = all.swap_remove(all.len() / 2);
    }
    for r in rounds {
        let l = &mut first.latency;
        l.sent += r.latency.sent;
        l.received += r.latency.received;
        l.lost += r.latency.lost;
        l.elapsed += r.latency.elapsed;
        l.rtt_us.extend(r.latency.rtt_us);
    }
    first
}

pub fn run(args: &E2eArgs) -> Result<(), String> {
    if args.sizes.is_empty() {
        return Err("--sizes needs at least one size".into());
    }
    if let Some(&s) = args.sizes.iter().find(|&&s| !(60..=1514).contains(&s)) {
        return Err(format!(
            "frame size {s} is outside 60..=1514 bytes (Ethernet without FCS)"
        ));
    }
    std::fs::metadata(&args.image).map_err(|e| format!("{}: {e}", args.image.display()))?;
    let echo = match &args.echo {
        Some(p) => p.clone(),
        None => build_echo(args.common.nics)?,
    };
    let result = compare(args, &echo);
    if args.echo.is_none() {
        if let Some(dir) = echo.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

/// Measures both VMs and prints the comparison.
fn compare(args: &E2eArgs, echo: &Path) -> Result<(), String> {
    let nics = usize::from(args.common.nics);
    let (udp_port, _) = pick_flow(&launch(args, &args.image), nics, args.common.udp_port)?;
    let (mut nfs, mut bares) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        progress(format!("round {round} of {}", args.rounds));
        nfs.push(measure(args, "nf", &args.image, udp_port)?);
        bares.push(measure(args, "echo", echo, udp_port)?);
    }
    let nf = merge(nfs);
    let bare = merge(bares);

    let nf_lat = Summary::of(&nf.latency.rtt_us);
    let echo_lat = Summary::of(&bare.latency.rtt_us);
    let rows: Vec<(usize, &Blast, &Blast)> = nf
        .runs
        .iter()
        .zip(&bare.runs)
        .map(|((s, a), (_, b))| (*s, a, b))
        .collect();
    if args.common.json {
        let results = rows
            .iter()
            .map(|(size, a, b)| {
                Json::obj([
                    ("size", Json::num(*size as f64)),
                    ("nf_pps", Json::num(a.pps())),
                    ("echo_pps", Json::num(b.pps())),
                    ("ratio", Json::num(a.pps() / b.pps())),
                    ("nf_sent", Json::num(a.sent as f64)),
                    ("nf_received", Json::num(a.received as f64)),
                    ("nf_lost", Json::num(a.lost as f64)),
                    ("echo_sent", Json::num(b.sent as f64)),
                    ("echo_received", Json::num(b.received as f64)),
                    ("echo_lost", Json::num(b.lost as f64)),
                    ("nf_mbit_s", Json::num(a.pps() * *size as f64 * 8.0 / 1e6)),
                ])
            })
            .collect();
        let json = Json::obj([
            ("command", Json::str("e2e")),
            ("image", Json::str(args.image.display().to_string())),
            ("echo_image", Json::str(echo.display().to_string())),
            ("accel", Json::str(nf.accel.clone())),
            ("idle", Json::str(args.common.idle.clone())),
            ("backend", Json::str("dgram")),
            ("nics", Json::num(args.common.nics)),
            ("udp_port", Json::num(udp_port)),
            ("mem", Json::str(args.mem.clone())),
            ("packets", Json::num(args.packets as f64)),
            ("window", Json::num(args.window as f64)),
            ("rounds", Json::num(args.rounds)),
            ("results", Json::Arr(results)),
            (
                "latency_us",
                Json::obj([
                    ("nf", json_or_null(nf_lat)),
                    ("echo", json_or_null(echo_lat)),
                    (
                        "added_p50",
                        match (nf_lat, echo_lat) {
                            (Some(a), Some(b)) => Json::num(a.median - b.median),
                            _ => Json::Null,
                        },
                    ),
                ]),
            ),
        ]);
        println!("{json}");
    } else {
        let mut table = vec![vec![
            "frame size".into(),
            "NF packets/s".into(),
            "echo packets/s".into(),
            "NF / echo".into(),
            "NF lost".into(),
        ]];
        for (size, a, b) in &rows {
            table.push(vec![
                format!("{size} B"),
                format!("{:.0}", a.pps()),
                format!("{:.0}", b.pps()),
                format!("{:.1}%", 100.0 * a.pps() / b.pps()),
                format!("{}", a.lost),
            ]);
        }
        print_table(
            &format!(
                "sluice bench e2e {} (accel {}, idle {}, dgram NICs, {} frames per size, {} in flight)",
                args.image.display(),
                nf.accel,
                args.common.idle,
                args.packets,
                args.window
            ),
            &table,
        );
        let lat = |s: Option<Summary>| {
            s.map_or("-".into(), |s| format!("{:.0} / {:.0}", s.median, s.p99))
        };
        print_table(
            "round trip, one frame in flight (us, p50 / p99)",
            &[
                vec!["NF VM".into(), lat(nf_lat)],
                vec!["echo VM".into(), lat(echo_lat)],
            ],
        );
    }
    Ok(())
}
