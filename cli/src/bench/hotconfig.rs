//! `sluice bench hotconfig [IMAGE]`: what replacing a running VM's configuration costs the
//! traffic going through it.
//!
//! One VM boots (IMAGE, or an image built now from the first `--config`), and a steady UDP
//! stream at `--rate` frames per second goes into eth0 (`192.0.2.1:12345 ->
//! 192.0.2.2:PORT`, see [`super::traffic`]) for the whole run. After a `--settle` period
//! without swaps, `--swaps` times `sluice ctl VM hotconfig FILE` installs the configurations
//! in turn (the second `--config`, the first, the second, ...), `--settle` apart. Each
//! frame carries a sequence number, so the bench knows which frames came back and when
//! each was sent.
//!
//! **Losses.** A frame sent while a swap runs, or within `--window` after it returned, is
//! counted in that swap's window; the others (before the first swap, and between swaps
//! after each window) are the baseline. Losses per swap are the frames of its window that
//! never came out; the baseline's loss rate says what the VM drops without any swap, to
//! compare with.
//!
//! **Swap time** is `sluice ctl VM hotconfig` end to end as a user sees it: preparing the
//! configuration on the host, asking the VM for its classes, sending it, and the guest
//! building and installing it, until the command returns. Beside it, the guest's own
//! measure of each swap (its `hotconfig_us` handler: from decoding the configuration to the
//! new router in place), when the image has it.
//!
//! **Mappings.** When the image has the NAT table handler `--nat-table` (default
//! `rw.udp_table`), its entry for the stream's flow is read before the first swap and
//! after the last, without the expiry time, and must be unchanged; and every frame that
//! came out must carry the same translated source address and port as the first one.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::e2e::{build_scratch_image, scratch_dir};
use super::stats::{json_or_null, Summary};
use super::traffic::{frame, probe, seq_of, set_seq, Nics, CANDIDATE_PORTS};
use super::vm::{unique_name, BenchVm, Launch};
use super::{print_table, progress, CommonArgs, Json};

/// The default configurations: a NAT and firewall, and the same with one more filter rule.
const DEFAULT_A: (&str, &str) = (
    "nat-fw-a.click",
    include_str!("../../../benches/vm/nat-fw-a.click"),
);
const DEFAULT_B: (&str, &str) = (
    "nat-fw-b.click",
    include_str!("../../../benches/vm/nat-fw-b.click"),
);

/// Arguments of `sluice bench hotconfig`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Losses: a frame sent while a swap runs, or within --window after it returned, counts in
that swap's window; the other frames are the baseline, which shows what the VM drops with
no swap at all. Swap time is `sluice ctl VM hotconfig FILE` end to end, as a user sees it.

Example:
  sluice bench hotconfig --swaps 20
      boots an image of benches/vm/nat-fw-a.click and swaps it with nat-fw-b.click")]
pub struct HotconfigArgs {
    /// The network function image (from `sluice build`); it must carry every element class
    /// both configurations use. Default: built now from the first --config.
    pub image: Option<PathBuf>,
    /// The two configurations to swap between, each given once (the VM boots with the
    /// first's image and gets the second first). Default: the NAT and firewall pair of
    /// benches/vm/nat-fw-a.click and nat-fw-b.click, which differ in one filter rule the
    /// stream does not touch.
    #[arg(long, value_name = "FILE")]
    pub config: Vec<PathBuf>,
    /// Swaps to perform.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub swaps: u32,
    /// Frames per second of the stream into eth0.
    #[arg(long, value_name = "PPS", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub rate: u32,
    /// The quiet time before the first swap and after each one: the stream runs, nothing
    /// is swapped.
    #[arg(long, default_value = "500ms", value_parser = crate::vm::state::parse_duration)]
    pub settle: Duration,
    /// How long after a swap returned the frames sent still count in its window (at most
    /// --settle): those a new configuration might drop while it settles.
    #[arg(long, default_value = "100ms", value_parser = crate::vm::state::parse_duration)]
    pub window: Duration,
    /// Frame size in bytes (Ethernet header and payload, no FCS).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// The read handler listing the NAT's UDP mappings, whose entry for the stream's flow
    /// must survive every swap (its absence is reported, not an error).
    #[arg(long, value_name = "HANDLER", default_value = "rw.udp_table")]
    pub nat_table: String,
    /// Guest memory.
    #[arg(long, default_value = "8M")]
    pub mem: String,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One swap as measured.
#[derive(Debug, Clone)]
struct Swap {
    /// Which configuration went in (0: the first, 1: the second).
    config: usize,
    started: Duration,
    took: Duration,
    /// The guest's own measure (`hotconfig_us`), in µs, when the image reports it.
    guest_us: Option<f64>,
    /// End of its loss window (the next swap's start at the latest).
    window_end: Duration,
}

/// What the receiver saw of one frame.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    received: bool,
    /// Source IPv4 address and UDP port it came out with.
    source: ([u8; 4], u16),
}

/// Frames sent into eth0: the time (since the start) each went.
#[derive(Default)]
struct Sent {
    at: Vec<Duration>,
}

/// Stops the stream's threads when dropped, so a failing swap or Ctrl-C never leaves the
/// scope waiting on them.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The configurations to swap between: the files asked for, or the defaults written to
/// the scratch folder.
fn configs(args: &HotconfigArgs) -> Result<[PathBuf; 2], String> {
    match &args.config[..] {
        [] => {
            let dir = scratch_dir()?;
            let mut out = Vec::new();
            for (name, text) in [DEFAULT_A, DEFAULT_B] {
                let p = dir.join(name);
                std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
                out.push(p);
            }
            Ok([out[0].clone(), out[1].clone()])
        }
        [a, b] => {
            for p in [a, b] {
                std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
            }
            Ok([a.clone(), b.clone()])
        }
        other => Err(format!(
            "give --config twice (the two configurations to swap between), or not at all \
             for benches/vm/nat-fw-a.click and nat-fw-b.click (got {})",
            other.len()
        )),
    }
}

pub fn run(args: &HotconfigArgs) -> Result<(), String> {
    if !(super::traffic::MIN_FRAME..=1514).contains(&args.size) {
        return Err(format!(
            "frame size {} is outside {}..=1514 bytes",
            args.size,
            super::traffic::MIN_FRAME
        ));
    }
    let configs = configs(args);
    let result = configs.and_then(|configs| {
        let image = match &args.image {
            Some(p) => {
                std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
                p.clone()
            }
            None => {
                let text = std::fs::read_to_string(&configs[0])
                    .map_err(|e| format!("{}: {e}", configs[0].display()))?;
                build_scratch_image("hotconfig", &text, "the image of the first configuration")?
            }
        };
        measure(args, &image, &configs)
    });
    // The scratch folder holds the default configurations and the built image, if any.
    if args.config.is_empty() || args.image.is_none() {
        if let Ok(dir) = scratch_dir() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

/// The NAT table's entry for the stream's flow, without its expiry; `None` when the
/// handler cannot be read or has no such entry.
fn nat_entry(vm: &BenchVm, handler: &str, udp_port: u16) -> Option<String> {
    let table = vm.read(handler, Duration::from_secs(10)).ok()?;
    let key = format!("(192.0.2.1, 12345, 192.0.2.2, {udp_port}) =>");
    let line = table.lines().find(|l| l.starts_with(&key))?;
    Some(
        line.split_once(" exp")
            .map_or(line, |(entry, _)| entry)
            .trim_end()
            .to_string(),
    )
}

/// Installs `config` with `sluice ctl CONTROL hotconfig FILE`; returns how long it took.
fn swap(vm: &BenchVm, config: &Path) -> Result<Duration, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let out = Command::new(exe)
        .arg("ctl")
        .args(["--timeout", "30s"])
        .arg(&vm.control)
        .arg("hotconfig")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("sluice ctl: {e}"))?;
    let took = start.elapsed();
    if !out.status.success() {
        return Err(format!(
            "sluice ctl {} hotconfig {} failed: {}\n(the bench swaps both --config files into \
             one VM: its image must carry every element class the two use, and each must \
             start on a VM with --nics NICs)",
            vm.name,
            config.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(took)
}

/// Boots the VM, runs the stream and the swaps, prints the report.
fn measure(args: &HotconfigArgs, image: &Path, configs: &[PathBuf; 2]) -> Result<(), String> {
    let launch = Launch {
        image: image.into(),
        mem: args.mem.clone(),
        accel: args.common.accel.clone(),
        idle: args.common.idle.clone(),
        machine: args.common.machine.clone(),
        ready_timeout: Duration::from_secs(30),
    };
    let ports: Vec<u16> = match args.common.udp_port {
        Some(p) => vec![p],
        None => CANDIDATE_PORTS.to_vec(),
    };
    let mut nics = Nics::new(usize::from(args.common.nics), ports[0])?;
    progress(format!("booting {}", image.display()));
    let vm = launch.start(&unique_name("hot"), &nics)?;
    let Some(&udp_port) = probe(&nics, &ports)?.first() else {
        return Err(format!(
            "the VM forwards none of the bench's frames (UDP 192.0.2.1:12345 -> \
             192.0.2.2:PORT into eth0, for PORT {}): pass --udp-port PORT for a UDP flow it \
             lets through",
            ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    nics.udp_port = udp_port;
    progress(format!(
        "stream: UDP 192.0.2.1:12345 -> 192.0.2.2:{udp_port}, {} B frames at {} per second",
        args.size, args.rate
    ));

    let stop_sending = AtomicBool::new(false);
    let stop_receiving = AtomicBool::new(false);
    let sent = Mutex::new(Sent::default());
    let seen: Mutex<Vec<Seen>> = Mutex::new(Vec::new());
    let start = Instant::now();
    let mut swaps: Vec<Swap> = Vec::new();
    let mut entries = (None, None);

    std::thread::scope(|s| -> Result<(), String> {
        let _stop_rx = StopOnDrop(&stop_receiving);
        let _stop_tx = StopOnDrop(&stop_sending);
        let sender = s.spawn(|| stream(&nics, args, start, &stop_sending, &sent));
        s.spawn(|| receive(&nics, &stop_receiving, &seen));

        sleep_checked(args.settle)?;
        entries.0 = nat_entry(&vm, &args.nat_table, udp_port);
        for k in 0..args.swaps as usize {
            super::check_interrupt()?;
            let config = (k + 1) % 2;
            let started = start.elapsed();
            let took = swap(&vm, &configs[config])?;
            progress(format!(
                "swap {} of {}: {} in {:.1} ms",
                k + 1,
                args.swaps,
                configs[config].display(),
                took.as_secs_f64() * 1e3
            ));
            let guest_us = vm
                .read("hotconfig_us", Duration::from_secs(10))
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok());
            swaps.push(Swap {
                config,
                started,
                took,
                guest_us,
                window_end: started + took + args.window.min(args.settle),
            });
            sleep_checked(args.settle)?;
        }
        entries.1 = nat_entry(&vm, &args.nat_table, udp_port);
        stop_sending.store(true, Ordering::SeqCst);
        sender
            .join()
            .map_err(|_| "the stream's sender failed".to_string())??;
        // Frames still in the VM or in flight come out within this.
        sleep_checked(Duration::from_millis(500).max(args.settle))?;
        Ok(())
    })?;

    let sent = sent.into_inner().unwrap_or_else(|e| e.into_inner()).at;
    let seen = seen.into_inner().unwrap_or_else(|e| e.into_inner());
    let report = Report::new(&sent, &seen, &swaps, entries);
    report.print(args, image, configs, &vm.accel, udp_port);
    Ok(())
}

/// Sleeps `d`, waking to check for Ctrl-C.
fn sleep_checked(d: Duration) -> Result<(), String> {
    let until = Instant::now() + d;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        super::check_interrupt()?;
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
    Ok(())
}

/// Sends the stream into eth0 at `args.rate` until told to stop.
fn stream(
    nics: &Nics,
    args: &HotconfigArgs,
    start: Instant,
    stop: &AtomicBool,
    sent: &Mutex<Sent>,
) -> Result<(), String> {
    let gap = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let mut f = frame(args.size, nics.udp_port, 0);
    let mut seq = 0u64;
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        set_seq(&mut f, seq);
        let at = start.elapsed();
        nics.send(&f)
            .map_err(|e| format!("sending into eth0: {e}"))?;
        sent.lock().unwrap_or_else(|e| e.into_inner()).at.push(at);
        seq += 1;
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

/// Records every stream frame that comes out, until told to stop.
fn receive(nics: &Nics, stop: &AtomicBool, seen: &Mutex<Vec<Seen>>) {
    let out = nics.out();
    let _ = out.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) {
        let Ok(n) = out.recv(&mut buf) else {
            continue;
        };
        let f = &buf[..n];
        // Stream frames have small sequence numbers; the probe's start at 2^44.
        let Some(seq) = seq_of(f).filter(|&s| s < 1 << 40) else {
            continue;
        };
        let source = (
            f[26..30].try_into().expect("4 bytes"),
            u16::from_be_bytes([f[34], f[35]]),
        );
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        let k = seq as usize;
        if seen.len() <= k {
            seen.resize(k + 1, Seen::default());
        }
        seen[k] = Seen {
            received: true,
            source,
        };
    }
}

/// Frames sent and lost in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Tally {
    sent: u64,
    lost: u64,
}

/// The results.
#[derive(Debug)]
struct Report {
    total: Tally,
    /// Frames outside every swap's window.
    baseline: Tally,
    /// Per swap: its window's frames.
    per_swap: Vec<(Swap, Tally)>,
    /// The translated source of the first frame out, and how many came out with another.
    source: Option<([u8; 4], u16)>,
    remapped: u64,
    /// The NAT table's entry before the first swap and after the last.
    entries: (Option<String>, Option<String>),
}

impl Report {
    fn new(
        sent: &[Duration],
        seen: &[Seen],
        swaps: &[Swap],
        entries: (Option<String>, Option<String>),
    ) -> Report {
        let mut swaps = swaps.to_vec();
        for k in 1..swaps.len() {
            let next = swaps[k].started;
            swaps[k - 1].window_end = swaps[k - 1].window_end.min(next);
        }
        let mut total = Tally::default();
        let mut baseline = Tally::default();
        let mut per_swap: Vec<(Swap, Tally)> =
            swaps.into_iter().map(|s| (s, Tally::default())).collect();
        let mut source = None;
        let mut remapped = 0;
        for (k, &at) in sent.iter().enumerate() {
            let s = seen.get(k).copied().unwrap_or_default();
            let lost = u64::from(!s.received);
            if s.received {
                match source {
                    None => source = Some(s.source),
                    Some(first) if first != s.source => remapped += 1,
                    Some(_) => {}
                }
            }
            total.sent += 1;
            total.lost += lost;
            let window = per_swap
                .iter_mut()
                .find(|(w, _)| w.started <= at && at < w.window_end);
            let tally = match window {
                Some((_, t)) => t,
                None => &mut baseline,
            };
            tally.sent += 1;
            tally.lost += lost;
        }
        Report {
            total,
            baseline,
            per_swap,
            source,
            remapped,
            entries,
        }
    }

    /// Whether the NAT's mapping survived: no frame remapped and, when the table could be
    /// read, the same entry before and after; `None` when nothing came out to judge by.
    fn mappings_kept(&self) -> Option<bool> {
        self.source?;
        let table_kept = match &self.entries {
            (Some(a), Some(b)) => a == b,
            (None, None) => true,
            _ => false,
        };
        Some(self.remapped == 0 && table_kept)
    }

    fn swap_ms(&self) -> Option<Summary> {
        let ms: Vec<f64> = self
            .per_swap
            .iter()
            .map(|(s, _)| s.took.as_secs_f64() * 1e3)
            .collect();
        Summary::of(&ms)
    }

    /// The guest's swap times in ms, if every swap has one.
    fn guest_ms(&self) -> Option<Summary> {
        let ms: Option<Vec<f64>> = self
            .per_swap
            .iter()
            .map(|(s, _)| s.guest_us.map(|us| us / 1e3))
            .collect();
        Summary::of(&ms?)
    }

    fn lost_in_swaps(&self) -> u64 {
        self.per_swap.iter().map(|(_, t)| t.lost).sum()
    }

    fn print(
        &self,
        args: &HotconfigArgs,
        image: &Path,
        configs: &[PathBuf; 2],
        accel: &str,
        udp_port: u16,
    ) {
        let swap_ms = self.swap_ms();
        let guest_ms = self.guest_ms();
        let received = self.total.sent - self.total.lost;
        let source = self
            .source
            .map(|(ip, port)| format!("{}.{}.{}.{}:{port}", ip[0], ip[1], ip[2], ip[3]));
        let opt = |s: &Option<String>| s.clone().map_or(Json::Null, Json::Str);
        if args.common.json {
            let per_swap = self
                .per_swap
                .iter()
                .map(|(s, t)| {
                    Json::obj([
                        ("config", Json::str(config_name(args, configs, s.config))),
                        ("at_s", Json::num(s.started.as_secs_f64())),
                        ("ms", Json::num(s.took.as_secs_f64() * 1e3)),
                        (
                            "guest_ms",
                            s.guest_us.map_or(Json::Null, |us| Json::num(us / 1e3)),
                        ),
                        ("sent", Json::num(t.sent as f64)),
                        ("lost", Json::num(t.lost as f64)),
                    ])
                })
                .collect();
            let json = Json::obj([
                ("command", Json::str("hotconfig")),
                ("image", Json::str(image_name(args, configs, image))),
                (
                    "configs",
                    Json::Arr(
                        (0..2)
                            .map(|k| Json::str(config_name(args, configs, k)))
                            .collect(),
                    ),
                ),
                ("accel", Json::str(accel)),
                ("backend", Json::str("dgram")),
                ("udp_port", Json::num(udp_port)),
                ("size", Json::num(args.size as f64)),
                ("rate_pps", Json::num(args.rate)),
                ("settle_ms", Json::num(args.settle.as_secs_f64() * 1e3)),
                (
                    "window_ms",
                    Json::num(args.window.min(args.settle).as_secs_f64() * 1e3),
                ),
                ("swaps", Json::num(self.per_swap.len() as f64)),
                ("sent", Json::num(self.total.sent as f64)),
                ("received", Json::num(received as f64)),
                ("lost", Json::num(self.total.lost as f64)),
                (
                    "lost_in_swap_windows",
                    Json::num(self.lost_in_swaps() as f64),
                ),
                (
                    "baseline",
                    Json::obj([
                        ("sent", Json::num(self.baseline.sent as f64)),
                        ("lost", Json::num(self.baseline.lost as f64)),
                    ]),
                ),
                ("swap_ms", json_or_null(swap_ms)),
                ("guest_swap_ms", json_or_null(guest_ms)),
                ("per_swap", Json::Arr(per_swap)),
                (
                    "nat",
                    Json::obj([
                        ("table", Json::str(args.nat_table.as_str())),
                        ("source", opt(&source)),
                        ("remapped", Json::num(self.remapped as f64)),
                        ("entry_before", opt(&self.entries.0)),
                        ("entry_after", opt(&self.entries.1)),
                    ]),
                ),
                (
                    "mappings_kept",
                    self.mappings_kept().map_or(Json::Null, Json::Bool),
                ),
            ]);
            println!("{json}");
            return;
        }
        let pct = |t: Tally| {
            if t.sent == 0 {
                "-".to_string()
            } else {
                format!("{:.2}%", 100.0 * t.lost as f64 / t.sent as f64)
            }
        };
        let ms = |f: fn(&Summary) -> f64| {
            let both = |s: Option<Summary>, digits| {
                s.map_or("-".into(), |s| format!("{:.*}", digits, f(&s)))
            };
            format!("{} / {}", both(swap_ms, 1), both(guest_ms, 2))
        };
        let lost_swaps = Tally {
            sent: self.per_swap.iter().map(|(_, t)| t.sent).sum(),
            lost: self.lost_in_swaps(),
        };
        let worst = self.per_swap.iter().map(|(_, t)| t.lost).max().unwrap_or(0);
        print_table(
            &format!(
                "sluice bench hotconfig {} (accel {accel}, dgram NICs, UDP to port {udp_port}, \
                 {} B at {} frames/s, {} swaps {} apart)",
                image_name(args, configs, image),
                args.size,
                args.rate,
                self.per_swap.len(),
                humantime(args.settle),
            ),
            &[
                vec!["frames sent".into(), self.total.sent.to_string()],
                vec!["frames received".into(), received.to_string()],
                vec![
                    "lost, baseline (no swap)".into(),
                    format!(
                        "{} of {} ({})",
                        self.baseline.lost,
                        self.baseline.sent,
                        pct(self.baseline)
                    ),
                ],
                vec![
                    "lost, in swap windows".into(),
                    format!(
                        "{} of {} ({})",
                        lost_swaps.lost,
                        lost_swaps.sent,
                        pct(lost_swaps)
                    ),
                ],
                vec!["lost, worst swap".into(), worst.to_string()],
                vec!["swap time p50 (ms, ctl / guest)".into(), ms(|s| s.median)],
                vec!["swap time p99 (ms, ctl / guest)".into(), ms(|s| s.p99)],
                vec!["swap time max (ms, ctl / guest)".into(), ms(|s| s.max)],
                vec![
                    "NAT source of the stream".into(),
                    source.unwrap_or_else(|| "-".into()),
                ],
                vec!["frames remapped".into(), self.remapped.to_string()],
                vec![
                    format!("{} entry", args.nat_table),
                    match &self.entries {
                        (Some(a), Some(b)) if a == b => "unchanged".into(),
                        (Some(_), Some(b)) => format!("changed: {b}"),
                        (Some(_), None) => "gone after the last swap".into(),
                        (None, _) => "not found (not checked)".into(),
                    },
                ],
                vec![
                    "mappings kept".into(),
                    match self.mappings_kept() {
                        Some(true) => "yes".into(),
                        Some(false) => "NO".into(),
                        None => "- (no frame came out)".into(),
                    },
                ],
            ],
        );
        println!(
            "  (a swap's window: from `sluice ctl hotconfig` starting until {} after it \
             returned; swap time: that command end to end / the guest's own hotconfig_us)",
            humantime(args.window.min(args.settle))
        );
    }
}

/// How the report names configuration `k`: the default ones by their place in the
/// sources, not by the scratch copies the bench removes.
fn config_name(args: &HotconfigArgs, configs: &[PathBuf; 2], k: usize) -> String {
    if args.config.is_empty() {
        format!("benches/vm/{}", [DEFAULT_A.0, DEFAULT_B.0][k])
    } else {
        configs[k].display().to_string()
    }
}

/// How the report names the image: its path, or what it was built from.
fn image_name(args: &HotconfigArgs, configs: &[PathBuf; 2], image: &Path) -> String {
    match &args.image {
        Some(_) => image.display().to_string(),
        None => format!("(built from {})", config_name(args, configs, 0)),
    }
}

/// `500ms`, `2s`.
fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swap(at_ms: u64, took_ms: u64, settle_ms: u64) -> Swap {
        Swap {
            config: 1,
            started: Duration::from_millis(at_ms),
            took: Duration::from_millis(took_ms),
            guest_us: Some(took_ms as f64 * 100.0),
            window_end: Duration::from_millis(at_ms + took_ms + settle_ms),
        }
    }

    #[test]
    fn losses_count_in_the_window_of_the_swap_they_fall_in() {
        // One frame every 100 ms from 0 to 1900 ms; a swap at 500 ms (its window, to 900,
        // clipped by the next swap's start) and one at 800 ms (window to 1250).
        let sent: Vec<Duration> = (0..20).map(|k| Duration::from_millis(k * 100)).collect();
        let ok = Seen {
            received: true,
            source: ([21, 0, 0, 1], 1024),
        };
        let mut seen = vec![ok; 20];
        seen[2].received = false; // baseline
        seen[6].received = false; // first swap
        seen[10].received = false; // second swap
        seen[11].received = false; // second swap
        seen[15].source.1 = 1025; // remapped
        let swaps = [swap(500, 100, 300), swap(800, 50, 400)];
        let r = Report::new(&sent, &seen, &swaps, (Some("e".into()), Some("e".into())));
        assert_eq!(r.total, Tally { sent: 20, lost: 4 });
        // 500, 600, 700 in the first; 800 .. 1200 in the second.
        assert_eq!(r.per_swap[0].1, Tally { sent: 3, lost: 1 });
        assert_eq!(r.per_swap[1].1, Tally { sent: 5, lost: 2 });
        assert_eq!(r.baseline, Tally { sent: 12, lost: 1 });
        assert_eq!(r.lost_in_swaps(), 3);
        assert_eq!(r.source, Some(([21, 0, 0, 1], 1024)));
        assert_eq!(r.remapped, 1);
        assert_eq!(r.mappings_kept(), Some(false));
        let s = r.swap_ms().unwrap();
        assert_eq!((s.min, s.max), (50.0, 100.0));
        let g = r.guest_ms().unwrap();
        assert_eq!((g.min, g.max), (5.0, 10.0));
        // One swap the guest did not time: no guest figures at all.
        let mut untimed = swaps.to_vec();
        untimed[1].guest_us = None;
        let r = Report::new(&sent, &seen, &untimed, (None, None));
        assert!(r.guest_ms().is_none());
    }

    #[test]
    fn mappings_are_kept_only_if_the_table_entry_is_unchanged() {
        let sent = [Duration::ZERO];
        let seen = [Seen {
            received: true,
            source: ([21, 0, 0, 1], 1024),
        }];
        let kept = |e: (Option<&str>, Option<&str>)| {
            let e = (e.0.map(String::from), e.1.map(String::from));
            Report::new(&sent, &seen, &[], e).mappings_kept()
        };
        assert_eq!(kept((Some("a"), Some("a"))), Some(true));
        assert_eq!(kept((Some("a"), Some("b"))), Some(false));
        assert_eq!(kept((Some("a"), None)), Some(false));
        assert_eq!(kept((None, None)), Some(true));
        assert_eq!(
            Report::new(&sent, &[], &[], (None, None)).mappings_kept(),
            None
        );
    }

    #[test]
    fn the_default_configurations_differ_in_the_filter_only() {
        let lines = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with("//"))
                .map(String::from)
                .collect()
        };
        let (a, b) = (lines(DEFAULT_A.1), lines(DEFAULT_B.1));
        assert_eq!(a.len(), b.len());
        let differ: Vec<_> = a.iter().zip(&b).filter(|(x, y)| x != y).collect();
        assert_eq!(differ.len(), 1, "{differ:?}");
        assert!(differ[0].0.contains("filter :: IPFilter"), "{differ:?}");
    }
}
