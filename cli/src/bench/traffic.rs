//! Traffic for VMs with dgram NICs: each NIC takes frames on a UDP port of 127.0.0.1 and
//! sends the frames it transmits to a socket of ours, one frame per datagram.
//!
//! Frames are Ethernet/IPv4/UDP, `192.0.2.1:12345 -> 192.0.2.2:PORT` (`--udp-port`, or
//! the first of [`CANDIDATE_PORTS`] the image forwards), addressed
//! to eth0's MAC, with a sequence number in the first 8 payload bytes; the UDP checksum is
//! left 0 ("none", valid over IPv4) so a network function that rewrites addresses still
//! forwards them. A frame counts as forwarded when a frame with its sequence number comes
//! back out of the VM (eth1 with two NICs, eth0 with one).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::vm::boot::nic_mac;

use super::progress;
use super::vm::{unique_name, Launch};

/// Offset of the sequence number: after the Ethernet (14), IPv4 (20) and UDP (8) headers.
const SEQ_AT: usize = 42;
/// The smallest frame that holds the sequence number.
pub const MIN_FRAME: usize = SEQ_AT + 8;

/// The NICs of one VM: the ports it listens on and our sockets for what it sends.
pub struct Nics {
    /// UDP ports on 127.0.0.1 where NIC *i* takes frames.
    pub local: Vec<u16>,
    /// Sockets receiving what NIC *i* transmits.
    pub rx: Vec<UdpSocket>,
    /// Our sending socket.
    pub tx: UdpSocket,
    /// UDP destination port of the frames sent.
    pub udp_port: u16,
}

impl Nics {
    /// `n` NICs on ports free a moment ago; frames will go to UDP port `udp_port`.
    pub fn new(n: usize, udp_port: u16) -> Result<Nics, String> {
        let bind = || UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("UDP socket: {e}"));
        let mut local = Vec::new();
        let mut rx = Vec::new();
        for _ in 0..n {
            local.push(free_local_port()?);
            let r = bind()?;
            // Room for a burst of full-size frames while we are busy sending.
            let _ = r.set_read_timeout(Some(Duration::from_millis(200)));
            rx.push(r);
        }
        Ok(Nics {
            local,
            rx,
            tx: bind()?,
            udp_port,
        })
    }

    /// `--nic` specifications for `sluice boot`.
    pub fn specs(&self) -> Vec<String> {
        self.local
            .iter()
            .zip(&self.rx)
            .map(|(l, r)| {
                format!(
                    "dgram:{l}:{}",
                    r.local_addr().map(|a| a.port()).unwrap_or(0)
                )
            })
            .collect()
    }

    /// The socket where forwarded frames arrive: eth1's with two or more NICs, else eth0's.
    pub fn out(&self) -> &UdpSocket {
        &self.rx[if self.rx.len() > 1 { 1 } else { 0 }]
    }

    /// Sends one frame into eth0.
    pub fn send(&self, frame: &[u8]) -> std::io::Result<usize> {
        self.tx.send_to(frame, ("127.0.0.1", self.local[0]))
    }
}

/// A UDP port of 127.0.0.1 for a NIC to listen on, free a moment ago. Taken below Linux's
/// ephemeral range (32768 and up by default), where our own sockets bound to port 0 land,
/// and handed out at most once per process, so two VMs started together never collide.
fn free_local_port() -> Result<u16, String> {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id() * 97) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free UDP port on 127.0.0.1".into())
}

/// A `size`-byte frame (at least [`MIN_FRAME`]) carrying sequence number `seq`.
pub fn frame(size: usize, udp_port: u16, seq: u64) -> Vec<u8> {
    let size = size.max(MIN_FRAME);
    let mut f = vec![0u8; size];
    let mac: Vec<u8> = nic_mac(0)
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).unwrap_or(0))
        .collect();
    f[..6].copy_from_slice(&mac);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (size - 14) as u16;
    {
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[192, 0, 2, 1]);
        ip[16..20].copy_from_slice(&[192, 0, 2, 2]);
        let c = ip_checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    f[34..36].copy_from_slice(&12345u16.to_be_bytes());
    f[36..38].copy_from_slice(&udp_port.to_be_bytes());
    f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    set_seq(&mut f, seq);
    f
}

pub(super) fn set_seq(f: &mut [u8], seq: u64) {
    f[SEQ_AT..SEQ_AT + 8].copy_from_slice(&seq.to_be_bytes());
}

pub(super) fn seq_of(f: &[u8]) -> Option<u64> {
    f.get(SEQ_AT..SEQ_AT + 8)
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
}

/// RFC 1071 checksum of an IPv4 header.
fn ip_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What a run of [`blast`] saw.
#[derive(Debug, Clone)]
pub struct Blast {
    pub sent: u64,
    pub received: u64,
    /// Frames given up on (nothing came back within the receive timeout).
    pub lost: u64,
    pub elapsed: Duration,
    /// Round-trip times of the frames that came back, in µs.
    pub rtt_us: Vec<f64>,
}

impl Blast {
    /// Frames forwarded per second.
    pub fn pps(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Sends `count` frames of `size` bytes into eth0, keeping at most `window` in flight, and
/// receives them where the VM forwards them. When nothing arrives for `idle` the frames in
/// flight are counted lost and sending goes on. Sequence numbers start at `first_seq`, so
/// stragglers of an earlier run are told apart and ignored.
pub fn blast(
    nics: &Nics,
    size: usize,
    count: u64,
    window: u64,
    idle: Duration,
    first_seq: u64,
) -> Result<Blast, String> {
    let out = nics.out();
    out.set_read_timeout(Some(idle))
        .map_err(|e| e.to_string())?;
    let mut f = frame(size, nics.udp_port, first_seq);
    let mut sent_at: Vec<Option<Instant>> = vec![None; count as usize];
    let (mut sent, mut received, mut lost) = (0u64, 0u64, 0u64);
    let mut rtt_us = Vec::with_capacity(count as usize);
    let mut buf = vec![0u8; 65536];
    let start = Instant::now();
    let mut last_check = Instant::now();
    while received + lost < count {
        while sent < count && sent - received - lost < window {
            set_seq(&mut f, first_seq + sent);
            nics.send(&f)
                .map_err(|e| format!("sending into eth0: {e}"))?;
            sent_at[sent as usize] = Some(Instant::now());
            sent += 1;
        }
        match out.recv(&mut buf) {
            Ok(n) => {
                let now = Instant::now();
                let Some(seq) = seq_of(&buf[..n]) else {
                    continue;
                };
                let Some(k) = seq.checked_sub(first_seq).filter(|&k| k < sent) else {
                    continue;
                };
                if let Some(t) = sent_at[k as usize].take() {
                    rtt_us.push(now.duration_since(t).as_secs_f64() * 1e6);
                    received += 1;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Everything in flight is given up on.
                for t in sent_at[..sent as usize].iter_mut() {
                    if t.take().is_some() {
                        lost += 1;
                    }
                }
            }
            Err(e) => return Err(format!("receiving: {e}")),
        }
        if last_check.elapsed() > Duration::from_millis(100) {
            super::check_interrupt()?;
            last_check = Instant::now();
        }
    }
    Ok(Blast {
        sent,
        received,
        lost,
        elapsed: start.elapsed(),
        rtt_us,
    })
}

/// UDP ports tried, in this order, when `--udp-port` is not given: echo, DNS, QUIC/HTTPS,
/// HTTP, NTP, iperf3, discard. A firewall lets at least one of them out, as a rule.
pub const CANDIDATE_PORTS: [u16; 7] = [7, 53, 443, 80, 123, 5201, 9];

/// The flow, as progress lines and errors name it.
fn flow(port: u16, nics: usize) -> String {
    format!(
        "UDP 192.0.2.1:12345 -> 192.0.2.2:{port} into eth0, out of {}",
        if nics > 1 { "eth1" } else { "eth0" }
    )
}

/// Which of `ports` the VM behind `nics` forwards: a few rounds of one frame per port, each
/// port's frames told apart by their sequence numbers.
pub fn probe(nics: &Nics, ports: &[u16]) -> Result<Vec<u16>, String> {
    const ROUNDS: u64 = 3;
    let first_seq = 1u64 << 44;
    let out = nics.out();
    out.set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(|e| e.to_string())?;
    let mut forwarded = vec![false; ports.len()];
    let mut buf = vec![0u8; 65536];
    for round in 0..ROUNDS {
        for (k, &port) in ports.iter().enumerate() {
            let f = frame(64, port, first_seq + round * 1000 + k as u64);
            nics.send(&f)
                .map_err(|e| format!("sending into eth0: {e}"))?;
        }
        let until = Instant::now() + Duration::from_millis(400);
        while Instant::now() < until {
            if let Ok(n) = out.recv(&mut buf) {
                let k = seq_of(&buf[..n])
                    .and_then(|s| s.checked_sub(first_seq))
                    .map(|s| (s % 1000) as usize);
                if let Some(k) = k.filter(|&k| k < ports.len()) {
                    forwarded[k] = true;
                }
            }
        }
        if forwarded.iter().any(|&f| f) {
            break;
        }
    }
    Ok(ports
        .iter()
        .zip(forwarded)
        .filter(|(_, f)| *f)
        .map(|(&p, _)| p)
        .collect())
}

/// Boots one VM of `launch` and settles on the flow the bench sends: `asked` if the image
/// forwards it, else the first of [`CANDIDATE_PORTS`] it forwards. Says which on standard
/// error; fails, saying what to do, when the image forwards none. Returns the port and the
/// accelerator the VM ran on.
pub fn pick_flow(
    launch: &Launch,
    nics_n: usize,
    asked: Option<u16>,
) -> Result<(u16, String), String> {
    let ports: Vec<u16> = match asked {
        Some(p) => vec![p],
        None => CANDIDATE_PORTS.to_vec(),
    };
    let nics = Nics::new(nics_n, ports[0])?;
    progress(format!(
        "finding a flow the image forwards (--mem {})",
        launch.mem
    ));
    let vm = launch.start(&unique_name("flow"), &nics)?;
    let forwarded = probe(&nics, &ports)?;
    match (asked, forwarded.first()) {
        (Some(p), Some(_)) => {
            progress(format!("flow: {} (--udp-port {p})", flow(p, nics_n)));
            Ok((p, vm.accel.clone()))
        }
        (None, Some(&p)) => {
            progress(format!(
                "flow: {} (the first of ports {} the image forwards; --udp-port PORT picks \
                 another)",
                flow(p, nics_n),
                list(&CANDIDATE_PORTS)
            ));
            Ok((p, vm.accel.clone()))
        }
        (Some(p), None) => Err(format!(
            "the image boots but does not forward the bench's frames ({}): pass --udp-port \
             PORT for a UDP flow it lets through",
            flow(p, nics_n)
        )),
        (None, None) => Err(format!(
            "the image boots but forwards none of the bench's frames (UDP 192.0.2.1:12345 -> \
             192.0.2.2:PORT into eth0, expected out of {}, for PORT {}): pass --udp-port PORT \
             for a UDP flow it lets through",
            if nics_n > 1 { "eth1" } else { "eth0" },
            list(&CANDIDATE_PORTS)
        )),
    }
}

fn list(ports: &[u16]) -> String {
    let words: Vec<String> = ports.iter().map(u16::to_string).collect();
    words.join(", ")
}

/// Whether the VM forwards: a few frames, one at a time, at least one must come back.
pub fn forwards(nics: &Nics) -> bool {
    blast(nics, 64, 8, 1, Duration::from_millis(250), 1 << 40)
        .map(|b| b.received > 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_their_sequence_number() {
        let f = frame(64, 7, 77);
        assert_eq!(f.len(), 64);
        assert_eq!(seq_of(&f), Some(77));
        assert_eq!(ip_checksum(&f[14..34]), 0);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 50);
        assert_eq!(frame(10, 7, 1).len(), MIN_FRAME);
        assert_eq!(&frame(64, 53, 1)[36..38], &[0, 53]);
    }
}
