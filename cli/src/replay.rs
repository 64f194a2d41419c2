//! `sluice replay`: sends a capture file's frames into a running VM's NIC and records what
//! comes out of every NIC, as `tcpreplay` plus `tcpdump` would on a real wire.
//!
//! Works with `dgram` NICs (QEMU's UDP backend on 127.0.0.1): one datagram is one frame.
//! Frames are sent to the NIC's local port (where QEMU listens) and collected on each NIC's
//! remote port (where QEMU sends what the guest transmits).

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sluice_elements::host::pcap::{DumpReader, DumpWriter};

use crate::vm::boot::Nic;
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
    /// Print the counts as JSON.
    #[arg(long)]
    pub json: bool,
}

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
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Sends `frames` (each with the NIC it goes into) to a VM whose NICs are `nics` (all
/// `dgram`), collecting every NIC's output until `wait` passes with nothing new.
pub fn replay(
    nics: &[Nic],
    frames: &[(usize, Vec<u8>)],
    burst: usize,
    wait: Duration,
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
    for chunk in frames.chunks(burst.max(1)) {
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
    })
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
    let outcome = match replay(&nics, &frames, args.burst, args.wait) {
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
        println!(
            "{{\"vm\":\"{}\",\"sent\":{},\"received\":[{}]}}",
            vm.name,
            outcome.sent,
            per_nic.join(",")
        );
    } else {
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
