//! `sluice bench density IMAGE [--vms N]`: many VMs at once.
//!
//! Starts N launchers (`sluice boot --detach`) at the same moment, each VM with its dgram
//! NICs and the least memory the image needs (searched as `bench boot` does, unless `--mem`
//! is given), waits until every one is ready, then asks each for a handler over its control
//! channel. Reports the start rate (N / time until all are ready), the ready times, how many
//! answered, and the host memory: the sum of the QEMU processes' resident set sizes
//! (`VmRSS` in `/proc/PID/status`), read while all run, and the host CPU they use while
//! idle (their CPU time over two seconds). Every VM is stopped at the end,
//! also when a start fails or on Ctrl-C.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::stats::{json_or_null, Summary};
use super::traffic::{pick_flow, Nics};
use super::vm::{cpu_ticks, unique_name, BenchVm, Launch, Pending, CLOCK_TICKS};
use super::{print_table, progress, CommonArgs, Json};

/// Arguments of `sluice bench density`.
#[derive(Debug, clap::Args)]
pub struct DensityArgs {
    /// The image (from `sluice build`).
    pub image: PathBuf,
    /// VMs to run at once.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub vms: u32,
    /// Guest memory of each VM (default: the least that boots and forwards, searched first).
    #[arg(long)]
    pub mem: Option<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// The handler every VM is asked for: short, so the answer is quick even on a busy host.
const HANDLER: &str = "buffers_held";

pub fn run(args: &DensityArgs) -> Result<(), String> {
    let nics_n = usize::from(args.common.nics);
    let mut launch = Launch {
        image: args.image.clone(),
        mem: "8M".into(),
        accel: args.common.accel.clone(),
        idle: args.common.idle.clone(),
        machine: args.common.machine.clone(),
        ready_timeout: Duration::from_secs(120),
    };
    launch.mem = match &args.mem {
        Some(m) => m.clone(),
        None => {
            let (port, _) = pick_flow(&launch, nics_n, args.common.udp_port)?;
            format!("{}K", super::boot::least_memory(&launch, nics_n, port)?)
        }
    };
    let n = args.vms as usize;
    progress(format!("starting {n} VMs with --mem {}", launch.mem));

    let mut nics = Vec::with_capacity(n);
    for _ in 0..n {
        // No traffic goes to these VMs: the port is only a field of the NIC set.
        nics.push(Nics::new(nics_n, args.common.udp_port.unwrap_or(0))?);
    }
    // Guards first: whatever happens below, every VM started is stopped.
    let mut vms: Vec<BenchVm> = Vec::with_capacity(n);
    let mut pending: Vec<Option<Pending>> = Vec::with_capacity(n);
    let mut ready_ms = vec![f64::NAN; n];
    let start = Instant::now();
    for (i, nic) in nics.iter().enumerate() {
        pending.push(Some(launch.spawn(&unique_name(&format!("d{i}")), nic)?));
    }
    let mut left = n;
    let mut last_report = Instant::now();
    while left > 0 {
        super::check_interrupt()?;
        for (i, p) in pending.iter_mut().enumerate() {
            let Some(pp) = p.as_mut() else { continue };
            if let Some(vm) = pp.poll()? {
                ready_ms[i] = start.elapsed().as_secs_f64() * 1000.0;
                vms.push(vm);
                *p = None;
                left -= 1;
            }
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            progress(format!("{} of {n} ready", n - left));
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let all_ready = start.elapsed();
    progress(format!(
        "all {n} ready after {:.2} s; asking each for a handler",
        all_ready.as_secs_f64()
    ));

    let mut answered = 0;
    let mut failures = Vec::new();
    for vm in &vms {
        super::check_interrupt()?;
        match vm.read(HANDLER, Duration::from_secs(10)) {
            Ok(text) if !text.trim().is_empty() => answered += 1,
            Ok(_) => failures.push(format!("{}: empty answer", vm.name)),
            Err(e) => failures.push(e),
        }
    }
    // Host CPU the idle VMs take: their CPU time over a short window.
    let ticks = |vms: &[BenchVm]| -> u64 { vms.iter().filter_map(|v| cpu_ticks(v.pid)).sum() };
    let window = Duration::from_secs(2);
    let before = ticks(&vms);
    std::thread::sleep(window);
    let idle_cpu_percent =
        (ticks(&vms) - before.min(ticks(&vms))) as f64 / CLOCK_TICKS as f64 / window.as_secs_f64()
            * 100.0;
    let rss: Vec<f64> = vms
        .iter()
        .filter_map(|v| v.rss_kib())
        .map(|k| k as f64)
        .collect();
    let rss_total: f64 = rss.iter().sum();
    let accel = vms.first().map_or("?".into(), |v| v.accel.clone());
    let rate = n as f64 / all_ready.as_secs_f64();
    let ready = Summary::of(&ready_ms);
    let rss_s = Summary::of(&rss);
    progress(format!("stopping {n} VMs"));
    drop(vms);

    if args.common.json {
        let json = Json::obj([
            ("command", Json::str("density")),
            ("image", Json::str(args.image.display().to_string())),
            ("vms", Json::num(n as f64)),
            ("accel", Json::str(accel)),
            ("idle", Json::str(args.common.idle.clone())),
            ("mem", Json::str(launch.mem.clone())),
            ("nics", Json::num(nics_n as f64)),
            ("answered", Json::num(answered as f64)),
            ("all_answered", Json::Bool(answered == n)),
            ("all_ready_s", Json::num(all_ready.as_secs_f64())),
            ("start_rate_vms_per_s", Json::num(rate)),
            ("ready_ms", json_or_null(ready)),
            ("host_rss_kib_total", Json::num(rss_total)),
            ("idle_host_cpu_percent", Json::num(idle_cpu_percent)),
            ("rss_kib_per_vm", json_or_null(rss_s)),
            (
                "failures",
                Json::Arr(failures.iter().map(Json::str).collect()),
            ),
        ]);
        println!("{json}");
    } else {
        print_table(
            &format!(
                "sluice bench density {} ({n} VMs, accel {accel}, --mem {}, {nics_n} NICs each)",
                args.image.display(),
                launch.mem
            ),
            &[
                vec![
                    "VMs answering a control read".into(),
                    format!("{answered} of {n}"),
                ],
                vec![
                    "time until all are ready".into(),
                    format!("{:.2} s", all_ready.as_secs_f64()),
                ],
                vec!["start rate".into(), format!("{rate:.1} VMs/s")],
                vec![
                    "ready after (ms, min / median / p99)".into(),
                    ready.map_or("-".into(), |s| s.short(0)),
                ],
                vec![
                    "host memory, all QEMUs (RSS)".into(),
                    format!("{:.1} MiB", rss_total / 1024.0),
                ],
                vec![
                    "host CPU while all idle".into(),
                    format!("{idle_cpu_percent:.0}% of one core"),
                ],
                vec![
                    "per VM (KiB, min / median / p99)".into(),
                    rss_s.map_or("-".into(), |s| s.short(0)),
                ],
            ],
        );
        for f in &failures {
            println!("  no answer: {f}");
        }
    }
    if answered < n {
        return Err(format!("{} of {n} VMs did not answer", n - answered));
    }
    Ok(())
}
