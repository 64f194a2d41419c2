//! `sluice bench boot|density|e2e|hotconfig|tcp IMAGE` and `sluice bench click DIR`: the built-in
//! measurements of network function VMs and of the host runtime.
//!
//! - `boot`: boots an image N times and reports launcher start → ready and kernel entry →
//!   ready (min / median / p99), the image size, and the least guest memory with which the
//!   image still boots and forwards (found by bisection).
//! - `density`: starts N VMs at once, each with the least memory it needs, checks every one
//!   answers on its control channel, and reports the start rate, the time until all are
//!   ready and the host memory they take (the sum of QEMU's resident set sizes).
//! - `e2e`: packets per second at several frame sizes and round-trip latency through the
//!   network function VM over dgram NICs, next to a bare echo VM on the same backend.
//! - `hotconfig`: a steady UDP stream through the VM while its configuration is replaced
//!   again and again (`sluice ctl VM hotconfig`): frames lost per swap next to a baseline
//!   without swaps, the swap time, and whether the NAT's mappings survived.
//! - `tcp`: real TCP (iperf3) and ping through the VM between two network namespaces over
//!   TAP NICs, next to a bare bridge VM (root).
//! - `click`: Click configurations run unchanged as whole processes, `sluice run FILE` beside
//!   `click FILE`, packets per second and the ratio.
//!
//! The measurements that send traffic first settle on a flow the image forwards (the
//! `--udp-port` asked for, else the first of a few common ports that comes back out; see
//! `traffic::pick_flow`) and say which, so a network function that filters never looks
//! like one that fails to boot.
//!
//! Every VM is started by `sluice boot --detach` (this same binary), so the measurements
//! use exactly the launcher users run, and stopped when its guard is dropped — on success,
//! on error, on Ctrl-C and on SIGTERM or SIGHUP (so is `bench click`'s running process).
//! Results print as a table, or as JSON with `--json`; progress goes to standard error.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

mod boot;
mod click;
mod density;
mod e2e;
mod hotconfig;
mod stats;
mod tcp;
mod traffic;
mod vm;

pub use crate::json::Json;

/// Arguments of `sluice bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: What,
}

/// Which measurement.
#[derive(Debug, clap::Subcommand)]
pub enum What {
    /// Boot an image N times: time to ready, image size, least memory that forwards.
    Boot(boot::BootBenchArgs),
    /// Run N VMs at once: start rate, time until all are ready, host memory.
    Density(density::DensityArgs),
    /// Throughput and latency through the VM, next to a bare echo VM.
    E2e(e2e::E2eArgs),
    /// Click configurations as whole processes: `sluice run` beside `click`, packets per second.
    Click(click::ClickBenchArgs),
    /// Hotconfig swaps under a steady stream: frames lost per swap, swap time, whether
    /// NAT mappings survive.
    Hotconfig(hotconfig::HotconfigArgs),
    /// TCP throughput (iperf3) and ping through the VM between two network namespaces,
    /// next to a bare bridge VM (as root).
    Tcp(tcp::TcpArgs),
}

/// Options every measurement takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Print the results as JSON (for scripts) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// NICs each VM gets (dgram on 127.0.0.1): frames go in on eth0 and are expected out
    /// of eth1 with 2, back out of eth0 with 1.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub nics: u8,
    /// UDP destination port of the bench's frames (`192.0.2.1:12345 -> 192.0.2.2:PORT`
    /// into eth0), which the network function must forward. Default: the first of 7, 53,
    /// 443, 80, 123, 5201 and 9 that it forwards, found by trying each on a first VM.
    #[arg(long, value_name = "PORT")]
    pub udp_port: Option<u16>,
    /// Accelerator, as `sluice boot --accel`.
    #[arg(long, default_value = "auto")]
    pub accel: String,
    /// What idle VMs do, as `sluice boot --idle`: `halt` or `poll`.
    #[arg(long, default_value = "halt", value_parser = ["halt", "poll"])]
    pub idle: String,
    /// The machine type, as `sluice boot --machine`: `microvm` or `q35`.
    #[arg(long, default_value = "microvm", value_parser = ["microvm", "q35"])]
    pub machine: String,
}

/// `sluice bench`.
pub fn main(args: BenchArgs) -> ExitCode {
    install_interrupt_handler();
    let result = match args.what {
        What::Boot(a) => boot::run(&a),
        What::Density(a) => density::run(&a),
        What::E2e(a) => e2e::run(&a),
        What::Click(a) => click::run(&a),
        What::Hotconfig(a) => hotconfig::run(&a),
        What::Tcp(a) => tcp::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice bench: {e}");
            ExitCode::FAILURE
        }
    }
}

static INTERRUPTED: OnceLock<&'static AtomicBool> = OnceLock::new();

fn install_interrupt_handler() {
    let flag: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    if INTERRUPTED.set(flag).is_ok() {
        // Only a flag: every loop checks it and unwinds, so the guards stop every VM.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
}

/// Fails once Ctrl-C was pressed (or SIGTERM or SIGHUP came), so every loop unwinds and the VM guards stop their VMs.
pub(crate) fn check_interrupt() -> Result<(), String> {
    match INTERRUPTED.get() {
        Some(f) if f.load(Ordering::SeqCst) => Err("interrupted".into()),
        _ => Ok(()),
    }
}

/// A progress line on standard error (results go to standard output).
pub(crate) fn progress(line: impl std::fmt::Display) {
    eprintln!("  .. {line}");
}

/// Prints rows as an aligned two-or-more-column table.
pub(crate) fn print_table(title: &str, rows: &[Vec<String>]) {
    println!("{title}");
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c == 0 {
                line.push_str(&format!("  {cell}{}", " ".repeat(pad)));
            } else {
                line.push_str(&format!("  {}{cell}", " ".repeat(pad)));
            }
        }
        println!("{}", line.trim_end());
    }
}
