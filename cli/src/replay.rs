//! `sluice replay`: sends a capture file's frames into a running VM's NIC and records what
//! comes out of every NIC, as `tcpreplay` plus `tcpdump` would on a real wire.
//!
//! Works with `dgram` NICs (QEMU's UDP backend on 127.0.0.1): one datagram is one frame.
//! Frames are sent to the NIC's local port (where QEMU listens) and collected on each NIC's
//! remote port (where QEMU sends what the guest transmits).
//!
//! With `--watch HANDLER`, frames go in one at a time and each one's fate is printed: the
//! NICs it came out of, and the watched handlers it changed (`fw/lan_denied.count +1`), so
//! a drop is tied to the counter, and so to the rule, that took it. Before the next frame
//! goes in, the VM must have counted this one (`ethN.rx_packets`) and answered the handler
//! reads, and its output must have gone quiet.
//!
//! On a terminal a long replay shows a progress line on standard error.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_elements::host::pcap::{DumpReader, DumpWriter};

use crate::bench::Json;
use crate::progress::Status;
use crate::vm::boot::Nic;
use crate::vm::ctl::{self, Request};
use crate::vm::state::{parse_duration, runtime_dir, VmRecord};

/// Arguments of `sluice replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Capture files to send (pcap or pcapng, Ethernet): `FILE` sends into the VM's first
    /// NIC, `N=FILE` or `ethN=FILE` into NIC N. Frames of several files are sent in the
    /// order of their timestamps, so a request on one side precedes its reply on the other.
    #[arg(required = true, value_name = "[ethN=]FILE")]
    pub inputs: Vec<String>,
    /// The running VM, by name (see `sluice ps`).
    #[arg(long)]
    pub vm: String,
    /// Also write each NIC's output to PREFIX-ethN.pcap.
    #[arg(short = 'w', long, value_name = "PREFIX")]
    pub write: Option<String>,
    /// How long to keep listening after the last frame is sent.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub wait: Duration,
    /// Frames sent back to back before pausing 2 ms for the VM to catch up. The default, 1,
    /// lets each frame through before the next arrives, so a stateful function sees a
    /// request before its reply even when they enter on different NICs (QEMU delivers each
    /// NIC's frames independently); larger bursts replay faster.
    #[arg(long, default_value_t = 1)]
    pub burst: usize,
    /// Send the frames one at a time and print what became of each: the NICs it left by and
    /// how HANDLER (a read handler, `fw/lan_denied.count`; repeatable) changed.
    #[arg(long, value_name = "HANDLER")]
    pub watch: Vec<String>,
    /// Print the counts as JSON (with `--watch`, each frame's fate too).
    #[arg(long)]
    pub json: bool,
}

/// Where a watched replay reads handlers, and which.
pub struct Watch<'a> {
    /// The VM's control socket.
    pub control: &'a Path,
    /// The handlers to watch.
    pub handlers: &'a [String],
}

/// What became of one frame of a watched replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fate {
    /// The NIC it went into.
    pub nic: usize,
    /// Frames that left each NIC while it went through, in NIC order.
    pub out: Vec<usize>,
    /// Watched handlers whose value changed: the handler and the change (`+1`, or `a -> b`
    /// for values that are not numbers).
    pub changed: Vec<(String, String)>,
    /// Whether the VM counted the frame in (`ethN.rx_packets`).
    pub seen: bool,
}

/// How long a watched frame may take to be counted in by the VM.
const SEEN_TIMEOUT: Duration = Duration::from_secs(2);
/// Quiet on every NIC for this long ends a watched frame's turn.
const FRAME_QUIET: Duration = Duration::from_millis(20);

/// One NIC's listening end.
struct Tap {
    socket: UdpSocket,
    frames: Vec<(u64, Vec<u8>)>,
}

/// What a replay sent and saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Frames sent into the VM.
    pub sent: usize,
    /// Frames seen leaving each NIC, in NIC order, with their arrival times (ns since the
    /// Unix epoch).
    pub received: Vec<Vec<(u64, Vec<u8>)>>,
    /// Each frame's fate, in order, when the replay was watched.
    pub fates: Vec<Fate>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Sends `frames` (each with the NIC it goes into) to a VM whose NICs are `nics` (all
/// `dgram`), collecting every NIC's output until `wait` passes with nothing new. With
/// `watch`, one frame at a time, recording each one's [`Fate`].
pub fn replay(
    nics: &[Nic],
    frames: &[(usize, Vec<u8>)],
    burst: usize,
    wait: Duration,
    watch: Option<&Watch<'_>>,
) -> Result<Outcome, String> {
    let mut taps = Vec::with_capacity(nics.len());
    let mut ports = Vec::with_capacity(nics.len());
    for (i, nic) in nics.iter().enumerate() {
        let Nic::Dgram { local, remote } = nic else {
            return Err(format!(
                "NIC {i} is not a dgram NIC: replay needs dgram:LOCAL:REMOTE NICs"
            ));
        };
        let socket = UdpSocket::bind(("127.0.0.1", *remote)).map_err(|e| {
            format!(
                "cannot listen on 127.0.0.1:{remote} for NIC {i}: {}",
                crate::config::io_message(&e)
            )
        })?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        ports.push(*local);
        taps.push(Tap {
            socket,
            frames: Vec::new(),
        });
    }
    if let Some((nic, _)) = frames.iter().find(|(nic, _)| *nic >= nics.len()) {
        return Err(format!(
            "the VM has {} NIC(s); there is no eth{nic}",
            nics.len()
        ));
    }
    let sender = UdpSocket::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65536];
    let mut collect = |taps: &mut Vec<Tap>| -> usize {
        let mut n = 0;
        for tap in taps.iter_mut() {
            loop {
                match tap.socket.recv(&mut buf) {
                    Ok(len) => {
                        tap.frames.push((now_ns(), buf[..len].to_vec()));
                        n += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
        n
    };
    let mut status = Status::new();
    let mut fates = Vec::new();
    if let Some(watch) = watch {
        let mut rx: Vec<u64> = (0..nics.len())
            .map(|i| read_number(watch.control, &format!("eth{i}.rx_packets")))
            .collect::<Result<_, _>>()?;
        let mut values = read_all(watch.control, watch.handlers)?;
        for (nic, f) in frames {
            let before: Vec<usize> = taps.iter().map(|t| t.frames.len()).collect();
            let port = ports[*nic];
            sender.send_to(f, ("127.0.0.1", port)).map_err(|e| {
                format!(
                    "sending to 127.0.0.1:{port}: {}",
                    crate::config::io_message(&e)
                )
            })?;
            // Counted in, and (the control channel answers between the router's rounds) on
            // its way through the graph.
            let seen = wait_counted(watch.control, *nic, rx[*nic] + 1, &mut || {
                collect(&mut taps);
            })?;
            if seen {
                rx[*nic] += 1;
            }
            let after = read_all(watch.control, watch.handlers)?;
            let mut quiet_since = Instant::now();
            while quiet_since.elapsed() < FRAME_QUIET {
                if collect(&mut taps) > 0 {
                    quiet_since = Instant::now();
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            let changed = watch
                .handlers
                .iter()
                .zip(values.iter().zip(&after))
                .filter(|(_, (a, b))| a != b)
                .map(|(h, (a, b))| (h.clone(), change(a, b)))
                .collect();
            fates.push(Fate {
                nic: *nic,
                out: taps
                    .iter()
                    .zip(&before)
                    .map(|(t, &b)| t.frames.len() - b)
                    .collect(),
                changed,
                seen,
            });
            values = after;
        }
    }
    let plain = if watch.is_some() { &[][..] } else { frames };
    let mut sent = 0;
    for chunk in plain.chunks(burst.max(1)) {
        sent += chunk.len();
        status.tick(|| {
            let out: usize = taps.iter().map(|t| t.frames.len()).sum();
            format!(
                "sluice replay: {sent} of {} frames sent, {out} out",
                frames.len()
            )
        });
        for (nic, f) in chunk {
            let port = ports[*nic];
            sender.send_to(f, ("127.0.0.1", port)).map_err(|e| {
                format!(
                    "sending to 127.0.0.1:{port}: {}",
                    crate::config::io_message(&e)
                )
            })?;
        }
        // Give the VM (QEMU's backend and the guest) a moment: a dgram NIC drops frames
        // that arrive while the guest's receive ring is full.
        let pause = Instant::now();
        while pause.elapsed() < Duration::from_millis(2) {
            if collect(&mut taps) == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    status.clear();
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < wait {
        if collect(&mut taps) > 0 {
            quiet_since = Instant::now();
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(Outcome {
        sent: frames.len(),
        received: taps.into_iter().map(|t| t.frames).collect(),
        fates,
    })
}

/// Reads `handlers` through the VM's control channel.
fn read_all(control: &Path, handlers: &[String]) -> Result<Vec<String>, String> {
    handlers
        .iter()
        .map(|h| {
            ctl::call(control, &Request::Read(h.clone()))
                .map(|v| v.trim().to_string())
                .map_err(|e| format!("--watch {h}: {e}"))
        })
        .collect()
}

/// Reads a numeric handler.
fn read_number(control: &Path, handler: &str) -> Result<u64, String> {
    let v = ctl::call(control, &Request::Read(handler.into()))
        .map_err(|e| format!("{handler}: {e}"))?;
    v.trim()
        .parse()
        .map_err(|_| format!("{handler}: '{}' is not a number", v.trim()))
}

/// Waits until NIC `nic` has counted `count` frames in (calling `meanwhile` between reads);
/// false if it did not within [`SEEN_TIMEOUT`].
fn wait_counted(
    control: &Path,
    nic: usize,
    count: u64,
    meanwhile: &mut dyn FnMut(),
) -> Result<bool, String> {
    let start = Instant::now();
    loop {
        if read_number(control, &format!("eth{nic}.rx_packets"))? >= count {
            return Ok(true);
        }
        if start.elapsed() > SEEN_TIMEOUT {
            return Ok(false);
        }
        meanwhile();
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// How a handler's value changed: `+N`/`-N` for numbers, else `OLD -> NEW`.
fn change(before: &str, after: &str) -> String {
    match (before.parse::<i64>(), after.parse::<i64>()) {
        (Ok(a), Ok(b)) => format!("{:+}", b - a),
        _ => format!("{before} -> {after}"),
    }
}

/// One line of a watched replay: frame number (from 1), the NIC in, the NICs out, the
/// handlers changed.
fn fate_line(index: usize, fate: &Fate) -> String {
    let out: Vec<String> = fate
        .out
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(i, &n)| {
            if n == 1 {
                format!("eth{i}")
            } else {
                format!("eth{i}x{n}")
            }
        })
        .collect();
    let out = if out.is_empty() {
        "-".to_string()
    } else {
        out.join(",")
    };
    let mut changed: Vec<String> = fate
        .changed
        .iter()
        .map(|(h, c)| format!("{h} {c}"))
        .collect();
    if !fate.seen {
        changed.insert(0, format!("(not counted in by eth{})", fate.nic));
    }
    format!(
        "{:>5}  eth{:<3} {:<10} {}",
        index + 1,
        fate.nic,
        out,
        changed.join(", ")
    )
    .trim_end()
    .to_string()
}

/// Reads every frame of a capture file, with its timestamp.
pub fn read_frames(path: &str) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let mut reader = DumpReader::open(path)?;
    let mut frames = Vec::new();
    while let Some(rec) = reader.next_record()? {
        let mut data = vec![0u8; rec.caplen as usize];
        reader.read_data(&mut data)?;
        frames.push((rec.timestamp_ns, data));
    }
    Ok(frames)
}

/// Splits `ethN=FILE` / `N=FILE` / `FILE` into (NIC, file).
fn parse_input(word: &str) -> Result<(usize, &str), String> {
    let Some((nic, file)) = word.split_once('=') else {
        return Ok((0, word));
    };
    let n = nic.strip_prefix("eth").unwrap_or(nic);
    n.parse()
        .map(|n| (n, file))
        .map_err(|_| format!("bad input '{word}': expected FILE, N=FILE or ethN=FILE"))
}

/// Frames to send, each with the NIC it goes into.
type Outbound = Vec<(usize, Vec<u8>)>;

/// Reads every input and merges their frames in timestamp order (stable: ties keep the
/// order of the command line, then of the file). Also returns the NICs the inputs name.
fn merged_frames(inputs: &[String]) -> Result<(Outbound, Vec<usize>), String> {
    let mut all = Vec::new();
    let mut nics_used = Vec::new();
    for word in inputs {
        let (nic, file) = parse_input(word)?;
        nics_used.push(nic);
        for (t, f) in read_frames(file)? {
            all.push((t, nic, f));
        }
    }
    all.sort_by_key(|(t, _, _)| *t);
    Ok((all.into_iter().map(|(_, n, f)| (n, f)).collect(), nics_used))
}

fn write_pcap(path: &str, frames: &[(u64, Vec<u8>)]) -> std::io::Result<()> {
    let mut w = DumpWriter::new(std::fs::File::create(path)?, false);
    w.write_header(65535, 1)?;
    for (t, f) in frames {
        w.write_record(*t, f, f.len() as u32)?;
    }
    w.flush()
}

/// Runs `sluice replay`.
pub fn main(args: ReplayArgs) -> ExitCode {
    let fail = |m: String| {
        eprintln!("sluice replay: {m}");
        ExitCode::FAILURE
    };
    let dir = match runtime_dir() {
        Ok(d) => d,
        Err(e) => return fail(format!("runtime directory: {e}")),
    };
    let Some(vm) = VmRecord::load(&dir, &args.vm).filter(VmRecord::alive) else {
        return fail(format!(
            "no running VM named '{}' (see `sluice ps`)",
            args.vm
        ));
    };
    let nics: Vec<Nic> = match vm.nics.iter().map(|s| Nic::parse(s)).collect() {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    let (frames, into) = match merged_frames(&args.inputs) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let watch = Watch {
        control: &vm.control,
        handlers: &args.watch,
    };
    let watched = (!args.watch.is_empty()).then_some(&watch);
    let outcome = match replay(&nics, &frames, args.burst, args.wait, watched) {
        Ok(o) => o,
        Err(e) => return fail(e),
    };
    if let Some(prefix) = &args.write {
        for (i, frames) in outcome.received.iter().enumerate() {
            let path = format!("{prefix}-eth{i}.pcap");
            if let Err(e) = write_pcap(&path, frames) {
                return fail(format!("{path}: {}", crate::config::io_message(&e)));
            }
        }
    }
    let counts: Vec<usize> = outcome.received.iter().map(Vec::len).collect();
    if args.json {
        let per_nic: Vec<String> = counts.iter().map(usize::to_string).collect();
        let fates = if watched.is_some() {
            let list: Vec<String> = outcome
                .fates
                .iter()
                .map(|f| {
                    let out: Vec<String> = f.out.iter().map(usize::to_string).collect();
                    let changed: Vec<String> = f
                        .changed
                        .iter()
                        .map(|(h, c)| format!("{}:{}", Json::str(h.clone()), Json::str(c.clone())))
                        .collect();
                    format!(
                        "{{\"in\":{},\"out\":[{}],\"changed\":{{{}}},\"seen\":{}}}",
                        f.nic,
                        out.join(","),
                        changed.join(","),
                        f.seen
                    )
                })
                .collect();
            format!(",\"frames\":[{}]", list.join(","))
        } else {
            String::new()
        };
        println!(
            "{{\"vm\":\"{}\",\"sent\":{},\"received\":[{}]{fates}}}",
            vm.name,
            outcome.sent,
            per_nic.join(",")
        );
    } else {
        if watched.is_some() {
            println!("frame  in     out        changed");
            for (i, fate) in outcome.fates.iter().enumerate() {
                println!("{}", fate_line(i, fate));
            }
        }
        let into: Vec<String> = into.iter().map(|n| format!("eth{n}")).collect();
        println!(
            "sent {} frame(s) into {} of {}",
            outcome.sent,
            into.join(" and "),
            vm.name
        );
        for (i, n) in counts.iter().enumerate() {
            println!("  eth{i}: {n} frame(s) out");
        }
    }
    ExitCode::SUCCESS
}
