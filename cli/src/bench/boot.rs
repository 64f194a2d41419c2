//! `sluice bench boot IMAGE [--runs N]`: boot time, image size, least memory.
//!
//! Boots the image once untimed (the launcher measures and caches the host's TSC frequency
//! on its first run), then N times, each with its NICs, until the launcher reports the
//! guest ready; the VM is then killed. Two times come from each boot: the launcher's, from
//! its start to the guest's ready line, and the guest's, from kernel entry to ready. A third,
//! from spawning `sluice boot` to its return, includes the launcher's own process start.
//!
//! The least memory is found by bisection over `--mem`, in 64 KiB steps: a size passes when
//! the VM boots and forwards the bench's flow from eth0, the one the warm-up boot found
//! the image forwards (see `traffic::pick_flow`).

use std::path::PathBuf;
use std::time::Duration;

use super::stats::{json_or_null, Summary};
use super::traffic::{forwards, pick_flow, Nics};
use super::vm::{unique_name, Launch};
use super::{print_table, progress, CommonArgs, Json};

/// Arguments of `sluice bench boot`.
#[derive(Debug, clap::Args)]
pub struct BootBenchArgs {
    /// The image (from `sluice build`).
    pub image: PathBuf,
    /// Timed boots.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Guest memory for the timed boots.
    #[arg(long, default_value = "8M")]
    pub mem: String,
    /// Skip the least-memory search.
    #[arg(long)]
    pub skip_min_mem: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Granularity of the memory search, KiB.
const MEM_STEP_KIB: u64 = 64;
/// Largest size the memory search tries, KiB.
const MEM_MAX_KIB: u64 = 256 * 1024;

pub fn run(args: &BootBenchArgs) -> Result<(), String> {
    let image_bytes = std::fs::metadata(&args.image)
        .map_err(|e| format!("{}: {e}", args.image.display()))?
        .len();
    let launch = Launch {
        image: args.image.clone(),
        mem: args.mem.clone(),
        accel: args.common.accel.clone(),
        idle: args.common.idle.clone(),
        machine: args.common.machine.clone(),
        ready_timeout: Duration::from_secs(30),
    };
    let nics_n = usize::from(args.common.nics);

    // Untimed: the warm-up boot, and which flow the memory search sends.
    let (udp_port, accel) = pick_flow(&launch, nics_n, args.common.udp_port)?;

    let (mut launcher, mut entry, mut command) = (Vec::new(), Vec::new(), Vec::new());
    // Boot checkpoints, in the guest's order: µs since kernel entry, one sample per boot.
    let mut checkpoints: Vec<(String, Vec<f64>)> = Vec::new();
    for i in 0..args.runs {
        super::check_interrupt()?;
        let nics = Nics::new(nics_n, udp_port)?;
        let vm = launch.start(&unique_name("boot"), &nics)?;
        launcher.push(vm.launcher_ms);
        command.push(vm.command_ms);
        if let Some(us) = vm.entry_us {
            entry.push(us);
        }
        for (name, us) in &vm.checkpoints {
            match checkpoints.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.push(*us),
                None => checkpoints.push((name.clone(), vec![*us])),
            }
        }
        drop(vm);
        if (i + 1) % 10 == 0 || i + 1 == args.runs {
            progress(format!("{} of {} boots", i + 1, args.runs));
        }
    }

    let min_mem = if args.skip_min_mem {
        None
    } else {
        Some(least_memory(&launch, nics_n, udp_port)?)
    };

    let (l, e, c) = (
        Summary::of(&launcher),
        Summary::of(&entry),
        Summary::of(&command),
    );
    if args.common.json {
        let json = Json::obj([
            ("command", Json::str("boot")),
            ("image", Json::str(args.image.display().to_string())),
            ("image_bytes", Json::num(image_bytes as f64)),
            ("runs", Json::num(args.runs)),
            ("accel", Json::str(accel)),
            ("machine", Json::str(args.common.machine.clone())),
            ("idle", Json::str(args.common.idle.clone())),
            ("mem", Json::str(args.mem.clone())),
            ("nics", Json::num(nics_n as f64)),
            ("udp_port", Json::num(udp_port)),
            ("launcher_to_ready_ms", json_or_null(l)),
            ("entry_to_ready_us", json_or_null(e)),
            ("command_to_ready_ms", json_or_null(c)),
            (
                "min_mem_kib",
                min_mem.map_or(Json::Null, |k| Json::num(k as f64)),
            ),
            (
                "checkpoints_median_us",
                Json::Obj(
                    checkpoints
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.clone(),
                                Summary::of(v).map_or(Json::Null, |s| Json::num(s.median)),
                            )
                        })
                        .collect(),
                ),
            ),
            (
                "samples",
                Json::obj([
                    ("launcher_to_ready_ms", Json::nums(&launcher)),
                    ("entry_to_ready_us", Json::nums(&entry)),
                    ("command_to_ready_ms", Json::nums(&command)),
                ]),
            ),
        ]);
        println!("{json}");
    } else {
        let s = |x: Option<Summary>, d| x.map_or("-".into(), |x| x.short(d));
        print_table(
            &format!(
                "sluice bench boot {} ({} runs, {}, accel {accel}, --mem {}, {nics_n} NICs)",
                args.image.display(),
                args.runs,
                args.common.machine,
                args.mem
            ),
            &[
                vec!["".into(), "min / median / p99".into()],
                vec!["launcher start -> ready (ms)".into(), s(l, 1)],
                vec!["kernel entry -> ready (us)".into(), s(e, 0)],
                vec!["command -> ready (ms)".into(), s(c, 1)],
                vec![
                    "image size".into(),
                    format!(
                        "{image_bytes} bytes ({:.1} KiB)",
                        image_bytes as f64 / 1024.0
                    ),
                ],
                vec![
                    "least memory that boots and forwards".into(),
                    min_mem.map_or("-".into(), |k| format!("{k} KiB")),
                ],
            ],
        );
        let marks: Vec<String> = checkpoints
            .iter()
            .filter_map(|(n, v)| Some(format!("{n} {:.0}", Summary::of(v)?.median)))
            .collect();
        if !marks.is_empty() {
            println!(
                "  boot checkpoints, median us since kernel entry: {}",
                marks.join(", ")
            );
        }
    }
    Ok(())
}

/// Whether the image boots and forwards with `kib` KiB of memory.
fn passes(launch: &Launch, nics_n: usize, udp_port: u16, kib: u64) -> Result<bool, String> {
    super::check_interrupt()?;
    let trial = Launch {
        mem: format!("{kib}K"),
        ready_timeout: Duration::from_secs(5),
        ..launch.clone()
    };
    let nics = Nics::new(nics_n, udp_port)?;
    let ok = match trial.start(&unique_name("mem"), &nics) {
        Ok(_vm) => forwards(&nics),
        Err(e) if e == "interrupted" => return Err(e),
        Err(_) => false,
    };
    progress(format!(
        "--mem {kib}K: {}",
        if ok { "boots and forwards" } else { "fails" }
    ));
    Ok(ok)
}

/// The least memory (KiB, a multiple of 64 KiB) with which the image boots and forwards.
pub fn least_memory(launch: &Launch, nics_n: usize, udp_port: u16) -> Result<u64, String> {
    progress("searching the least memory that boots and forwards");
    // Find a size that passes, then bisect between it and one that fails.
    let mut hi = 8 * 1024;
    while !passes(launch, nics_n, udp_port, hi)? {
        hi *= 2;
        if hi > MEM_MAX_KIB {
            return Err(format!(
                "the image does not boot and forward UDP to port {udp_port} even with {} MiB",
                MEM_MAX_KIB / 1024
            ));
        }
    }
    let mut lo = MEM_STEP_KIB; // assumed to fail; checked below if the search gets there
    while hi - lo > MEM_STEP_KIB {
        let mid = (lo + hi) / 2 / MEM_STEP_KIB * MEM_STEP_KIB;
        if passes(launch, nics_n, udp_port, mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if lo == MEM_STEP_KIB && passes(launch, nics_n, udp_port, lo)? {
        return Ok(lo);
    }
    Ok(hi)
}
