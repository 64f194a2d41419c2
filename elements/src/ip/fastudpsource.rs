//! `FastUDPSource(RATE, LIMIT, LENGTH, SRCETH, SRCIP, SPORT, DSTETH, DSTIP, DPORT [, CHECKSUM, INTERVAL, ACTIVE])` — a benchmark source of one UDP/IP/Ethernet packet, over and over.
//!
//! **Ports:** `0/1`: no inputs, one output.
//!
//! **Processing:** `l`: pull.
//!
//! At initialization builds one Ethernet/IPv4/UDP packet of LENGTH bytes (at least 60; shorter
//! is raised to 60) from SRCETH to DSTETH, SRCIP:SPORT to DSTIP:DPORT: IP TTL
//! 250, identifier 0, no options, a zero payload, and a UDP checksum when CHECKSUM is true
//! (the default). Each pull returns copies of it, at most RATE packets per second (0: as fast
//! as pulled) and LIMIT in all (negative: no limit), while ACTIVE (default true). With
//! INTERVAL N > 0, both ports go up by one after every N packets (and the UDP checksum is
//! recomputed). Packets carry the destination address annotation DSTIP and an IP header
//! annotation. Ports may be numbers or service names (`dns`, `www`).
//!
//! **Handlers:** `count` (r), packets made; `rate` (r) the average rate between the first and
//! the last packet once LIMIT packets are out (0 before), (w) sets RATE; `reset` (w) counts
//! from 0 again; `active` (w), writing true also resets; `limit` (w).
//!
//! **Example:**
//!
//! ```text
//! FastUDPSource(100000, 500000, 60, 0:0:0:0:0:0, 1.0.0.1, 1234, 1:1:1:1:1:1, 2.0.0.2, 1234)
//!   -> ToDevice(eth0);
//! ```
//!
//! **Differences from Click:** Click hands out references to one shared packet buffer;
//! sluice copies the packet into a fresh buffer per pull (so an element that writes may).

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use sluice_config::args::{Args, EtherAddr};
use sluice_dataplane::clock::NS_PER_SEC;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext, BATCH_MAX,
};

use crate::standard::common_parse_value as parse_value;
use crate::wire::checksum;

/// `FastUDPSource`.
pub static FastUDPSource: ElementClass = ElementClass {
    name: "FastUDPSource",
    ports: "0/1",
    processing: "l",
    make,
    names: None,
};

/// Shortest packet made.
const MIN_LENGTH: usize = 60;
const ETHER_LEN: usize = 14;
const IP_LEN: usize = 20;

struct Fast {
    frame: Vec<u8>,
    sport: u16,
    dport: u16,
    /// Ports added so far by INTERVAL.
    incr: u16,
    interval: u64,
    checksum: bool,
    dst: [u8; 4],
    /// Packets per second; 0 = unlimited.
    rate: u64,
    /// `None`: no limit.
    limit: Option<u64>,
    active: bool,
    count: u64,
    /// The rate schedule: packets since `epoch`.
    epoch: Option<u64>,
    since_epoch: u64,
    /// Times of the first and the last (LIMIT-th) packet, for the `rate` handler.
    first_ns: u64,
    last_ns: u64,
}

fn make(args: &mut Args<'_>, cx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let rate = args.read_mp::<u32>("RATE");
    let limit = args.read_mp::<i64>("LIMIT");
    let length = args.read_mp::<u32>("LENGTH");
    let src_eth = args.read_mp::<EtherAddr>("SRCETH");
    let src_ip = args.read_mp::<Ipv4Addr>("SRCIP");
    let sport = args.read_mp::<String>("SPORT");
    let dst_eth = args.read_mp::<EtherAddr>("DSTETH");
    let dst_ip = args.read_mp::<Ipv4Addr>("DSTIP");
    let dport = args.read_mp::<String>("DPORT");
    let checksum = args.read_p("CHECKSUM").unwrap_or(true);
    let interval = args.read_p::<u32>("INTERVAL").unwrap_or(0);
    let active = args.read_p("ACTIVE").unwrap_or(true);
    let port = |args: &mut Args<'_>, what: &str, word: Option<String>| {
        let word = word?;
        let p = crate::classify::lang::port_number(&word);
        if p.is_none() {
            args.error_whole(alloc::format!(
                "{what}: expected a port number or a service name, not '{word}'"
            ));
        }
        p
    };
    let sport = port(args, "SPORT", sport);
    let dport = port(args, "DPORT", dport);
    let (rate, limit, length) = (rate?, limit?, length?);
    let (src_eth, src_ip, dst_eth, dst_ip) = (src_eth?, src_ip?, dst_eth?, dst_ip?);
    let (sport, dport) = (sport?, dport?);
    let _ = cx;
    // Click raises a shorter LENGTH to 60 (with a warning on its console).
    let length = (length as usize).max(MIN_LENGTH);
    if length > usize::from(u16::MAX) - 256 {
        args.error_whole("LENGTH: at most 65,279 bytes");
        return None;
    }
    let mut frame = alloc::vec![0u8; length];
    frame[..6].copy_from_slice(&dst_eth.0);
    frame[6..12].copy_from_slice(&src_eth.0);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut frame[ETHER_LEN..ETHER_LEN + IP_LEN];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&((length - ETHER_LEN) as u16).to_be_bytes());
    ip[8] = 250;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src_ip.octets());
    ip[16..20].copy_from_slice(&dst_ip.octets());
    let sum = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let udp_len = (length - ETHER_LEN - IP_LEN) as u16;
    frame[ETHER_LEN + IP_LEN + 4..ETHER_LEN + IP_LEN + 6].copy_from_slice(&udp_len.to_be_bytes());
    let mut me = Fast {
        frame,
        sport,
        dport,
        incr: 0,
        interval: u64::from(interval),
        checksum,
        dst: dst_ip.octets(),
        rate: u64::from(rate),
        limit: u64::try_from(limit).ok(),
        active,
        count: 0,
        epoch: None,
        since_epoch: 0,
        first_ns: 0,
        last_ns: 0,
    };
    me.set_ports();
    Some(Box::new(me))
}

impl Fast {
    /// Writes the current ports and the UDP checksum into the template.
    fn set_ports(&mut self) {
        let (sport, dport) = (
            self.sport.wrapping_add(self.incr),
            self.dport.wrapping_add(self.incr),
        );
        let (ip, udp) = self.frame[ETHER_LEN..].split_at_mut(IP_LEN);
        udp[0..2].copy_from_slice(&sport.to_be_bytes());
        udp[2..4].copy_from_slice(&dport.to_be_bytes());
        udp[6..8].copy_from_slice(&[0, 0]);
        if self.checksum {
            let src: [u8; 4] = ip[12..16].try_into().unwrap_or_default();
            let dst: [u8; 4] = ip[16..20].try_into().unwrap_or_default();
            let len = udp.len() as u16;
            let acc = checksum::sum(checksum::pseudo_header_v4(src, dst, 17, len), udp);
            let mut c = checksum::finish(acc);
            if c == 0 {
                c = 0xffff;
            }
            udp[6..8].copy_from_slice(&c.to_be_bytes());
        }
    }

    /// How many packets may go now, at most `max`; when RATE holds some back, tells the
    /// router when the next is due.
    fn allowed(&mut self, ctx: &mut Context<'_>, now: u64, max: usize) -> usize {
        if !self.active {
            return 0;
        }
        let left = self
            .limit
            .map_or(u64::MAX, |l| l.saturating_sub(self.count));
        let n = (max as u64).min(left);
        if self.rate == 0 || n == 0 {
            return n as usize;
        }
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = u128::from(now.saturating_sub(epoch));
        // Packets due by `now`, counting the one at the epoch itself.
        let due = (elapsed * u128::from(self.rate) / u128::from(NS_PER_SEC)) as u64 + 1;
        let mut behind = due.saturating_sub(self.since_epoch);
        if behind > BATCH_MAX as u64 {
            // Too far behind: restart the schedule rather than burst.
            self.epoch = Some(now);
            self.since_epoch = 0;
            behind = 1;
        }
        if behind < n {
            // The next packet after these is due `since_epoch + behind` periods in.
            let next = (u128::from(self.since_epoch + behind) * u128::from(NS_PER_SEC))
                .div_ceil(u128::from(self.rate));
            let epoch = self.epoch.unwrap_or(now);
            ctx.wake_at(epoch.saturating_add(u64::try_from(next).unwrap_or(u64::MAX)));
        }
        behind.min(n) as usize
    }

    fn reset(&mut self) {
        self.count = 0;
        self.first_ns = 0;
        self.last_ns = 0;
        self.incr = 0;
        self.epoch = None;
        self.since_epoch = 0;
        self.set_ports();
    }
}

impl Element for Fast {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, _: &mut InitContext<'_>) -> Result<(), String> {
        Ok(())
    }

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let now = ctx.now();
        let n = self.allowed(ctx, now, max);
        let mut batch = Batch::new();
        for _ in 0..n {
            let Some(mut p) = ctx.pool().alloc_from(&self.frame) else {
                break;
            };
            p.set_network_offset(ETHER_LEN);
            p.set_transport_offset(ETHER_LEN + IP_LEN);
            p.anno_mut().dst_ip = self.dst;
            batch.push(p);
            self.count += 1;
            self.since_epoch += 1;
            if self.count == 1 {
                self.first_ns = now;
            }
            if self.limit.is_some_and(|l| self.count >= l) {
                self.last_ns = now;
            }
            if self.interval > 0 && self.count.is_multiple_of(self.interval) {
                self.incr = self.incr.wrapping_add(1);
                self.set_ports();
            }
        }
        (!batch.is_empty()).then_some(batch)
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "count" => self.count.to_string(),
            "rate" => {
                if self.last_ns == 0 {
                    "0".into()
                } else {
                    // Click measures in jiffies (milliseconds), at least one.
                    let ms = ((self.last_ns - self.first_ns) / 1_000_000).max(1);
                    (self.count * 1000 / ms).to_string()
                }
            }
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        let bad = |m: &str| HandlerError::BadValue(m.into());
        match name {
            "reset" => self.reset(),
            "rate" => {
                self.rate = value
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| bad("rate parameter must be integer >= 0"))?
                    .into();
                self.epoch = None;
                self.since_epoch = 0;
            }
            "limit" => {
                let l: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("limit parameter must be integer >= 0"))?;
                self.limit = u64::try_from(l).ok();
            }
            "active" => {
                let v: bool = parse_value("active", value)?;
                self.active = v;
                if v {
                    self.reset();
                }
            }
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::read_write("rate"),
            Handler::write("reset"),
            Handler::write("active"),
            Handler::write("limit"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use crate::testutil::{graph, Bench};

    const ARGS: &str = "RATE, LIMIT, 60, 0:1:2:3:4:5, 1.0.0.1, 1234, 1:1:1:1:1:1, 2.0.0.2, 1234";

    fn source(rate: u32, limit: i64) -> sluice_dataplane::Router {
        let config = ARGS
            .replace("RATE", &rate.to_string())
            .replace("LIMIT", &limit.to_string());
        let g = graph(
            &[
                ("f", "FastUDPSource", config.as_str()),
                ("u", "Unqueue", "BURST 8"),
                ("c", "Counter", ""),
                ("d", "Discard", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
        );
        Bench::new().pool(64, 0).router(&g).unwrap()
    }

    #[test]
    fn limit_stops_the_packets_and_rate_reports_the_average() {
        let mut r = source(0, 20);
        r.run_rounds(10);
        assert_eq!(r.read_handler("c.count").unwrap(), "20");
        assert_eq!(r.read_handler("f.count").unwrap(), "20");
        // First and last packet in the same millisecond: Click divides by one jiffy.
        assert_eq!(r.read_handler("f.rate").unwrap(), "20000");
        r.write_handler("f.limit", "25").unwrap();
        r.run_rounds(10);
        assert_eq!(r.read_handler("c.count").unwrap(), "25");
        r.write_handler("f.active", "true").unwrap();
        assert_eq!(
            r.read_handler("f.count").unwrap(),
            "0",
            "active true resets"
        );
        assert!(r.write_handler("f.rate", "fast").is_err());
    }

    #[test]
    fn rate_holds_packets_back_and_names_the_next_deadline() {
        let mut r = source(4, -1);
        r.run_slice();
        assert_eq!(r.read_handler("c.count").unwrap(), "1", "the first at once");
        assert_eq!(
            r.next_deadline(),
            Some(1_250_000_000),
            "the next a quarter second on"
        );
    }
}
