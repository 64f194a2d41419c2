//! `LinkUnqueue(LATENCY, BANDWIDTH)` — pulls packets and pushes them on as a link would
//! deliver them.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `l/h`: pull input, push output.
//!
//! Models a serial link of latency LATENCY (a time) and bandwidth BANDWIDTH (bytes per
//! second, at least 100Bps; Click's units such as `100kb/s` are accepted). A packet takes
//! its length (plus its extra-length annotation) divided by the bandwidth to go onto the
//! link, in whole microseconds at a resolution of 100Bps, and arrives LATENCY after that.
//! Packets pulled back to back queue behind each other; a packet pulled onto an idle link
//! starts at once. The link holds as many packets as fit in LATENCY: the element pulls
//! while the last packet on the link is due within LATENCY of now. Each packet leaves with
//! its timestamp annotation set to its arrival time.
//!
//! **Handlers:** `latency` (r), `bandwidth` (r: in bytes per second), `size` (r: packets on
//! the link).
//!
//! **Example:** `... -> Queue -> LinkUnqueue(5ms, 1Mbps) -> ToDevice(eth0)`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::{String, ToString};

use core::time::Duration;

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, InitContext, Packet, Signal,
    TaskStatus,
};

use super::delayunqueue::unparse_interval;
use super::ratedsource::parse_bandwidth;

/// The element class.
pub static LinkUnqueue: ElementClass = ElementClass {
    name: "LinkUnqueue",
    ports: "1/1",
    processing: "l/h",
    make,
    names: None,
};

struct LinkUnqueueElement {
    latency_ns: u64,
    /// Bandwidth in units of 100 bytes per second.
    bandwidth: u64,
    /// Packets on the link, each timestamped with its arrival time.
    link: VecDeque<Packet>,
    /// Whether the last packet was pulled right behind the one before.
    back_to_back: bool,
    signal: Signal,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let latency = a.read_mp::<Duration>("LATENCY");
    let bandwidth = a.read_mp::<String>("BANDWIDTH");
    let (latency, bandwidth) = (latency?, bandwidth?);
    let bandwidth = match parse_bandwidth(&bandwidth) {
        Ok(b) => b,
        Err(e) => {
            a.error_whole(alloc::format!("BANDWIDTH: {e}"));
            return None;
        }
    };
    if bandwidth < 100 {
        a.error_whole("bandwidth too small, minimum 100Bps");
        return None;
    }
    Some(Box::new(LinkUnqueueElement {
        latency_ns: u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX),
        bandwidth: bandwidth / 100,
        link: VecDeque::new(),
        back_to_back: false,
        signal: Signal::Busy,
    }))
}

impl LinkUnqueueElement {
    /// When a packet that goes onto the link at `start` has left it.
    fn on_link(&self, p: &Packet, start: u64) -> u64 {
        let len = p.len() as u64 + u64::from(p.anno().extra_length);
        let usec = (len * 10_000) / self.bandwidth;
        start.saturating_add(usec * 1_000)
    }
}

impl Element for LinkUnqueueElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        self.signal = ctx.upstream_empty_signal(0);
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        let mut worked = false;
        let now = ctx.now_precise();
        let now_delayed = now.saturating_add(self.latency_ns);
        // Pull while the link has room: its last packet is due within LATENCY.
        while self
            .link
            .back()
            .is_none_or(|t| t.anno().timestamp_ns <= now_delayed)
        {
            let Some(mut p) = ctx.pull(0, 1).and_then(|mut b| b.pop()) else {
                self.back_to_back = false;
                break;
            };
            let start = match self.link.back() {
                Some(t) if self.back_to_back => t.anno().timestamp_ns,
                _ => now_delayed,
            };
            p.anno_mut().timestamp_ns = self.on_link(&p, start);
            self.link.push_back(p);
            self.back_to_back = true;
            worked = true;
        }
        while self
            .link
            .front()
            .is_some_and(|p| p.anno().timestamp_ns <= now)
        {
            if let Some(p) = self.link.pop_front() {
                ctx.output(0, p);
                worked = true;
            }
        }
        if let Some(head) = self.link.front() {
            let mut due = head.anno().timestamp_ns;
            if self.signal.active() {
                if let Some(tail) = self.link.back() {
                    due = due.min(tail.anno().timestamp_ns.saturating_sub(self.latency_ns));
                }
            }
            if due > now {
                ctx.wake_at(due);
                return if worked {
                    TaskStatus::Busy
                } else {
                    TaskStatus::Idle
                };
            }
        }
        if worked {
            TaskStatus::Busy
        } else {
            TaskStatus::Idle
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "latency" => Some(unparse_interval(self.latency_ns)),
            "bandwidth" => Some(alloc::format!("{}Bps", self.bandwidth * 100)),
            "size" => Some(self.link.len().to_string()),
            _ => None,
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("latency"),
            Handler::read("bandwidth"),
            Handler::read("size"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn packets_arrive_after_transmission_and_latency() {
        let b = Bench::new().pool(16, 0).clock_at(1_000_000_000);
        let g = graph(
            &[
                ("q", "Queue", ""),
                ("l", "LinkUnqueue", "5ms, 100kb/s"),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let mut batch = b.batch(&[&[0u8; 20][..], &[0u8; 20][..]]);
        batch.get_mut(1).unwrap().anno_mut().extra_length = 80;
        r.push_to("q", 0, batch).unwrap();
        r.run_rounds(2);
        // The first packet fills the link: it is due beyond LATENCY from now.
        assert_eq!(r.read_handler("l.size").unwrap(), "1");
        assert_eq!(r.read_handler("q.length").unwrap(), "1");
        assert!(collected("c").is_empty());
        // 100kb/s is 12500 bytes a second: 20 bytes take 1.6ms, 100 take 8ms.
        b.clock.advance(6_600_000);
        r.run_rounds(2);
        let out = collected("c");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].anno.timestamp_ns, 1_006_600_000);
        b.clock.advance(8_000_000);
        r.run_rounds(2);
        let out = collected("c");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].anno.timestamp_ns, 1_014_600_000, "back to back");
        assert_eq!(r.read_handler("l.latency").unwrap(), "5ms");
        assert_eq!(r.read_handler("l.bandwidth").unwrap(), "12500Bps");
        let bad = |c: &str| {
            config_error(&graph(
                &[
                    ("q", "Queue", ""),
                    ("l", "LinkUnqueue", c),
                    ("d", "Discard", ""),
                ],
                &[(0, 0, 1, 0), (1, 0, 2, 0)],
            ))
        };
        assert!(bad("5ms, 99Bps").contains("bandwidth too small"));
        assert!(bad("5ms").contains("BANDWIDTH"));
        assert!(bad("soon, 1Mbps").contains("LATENCY"));
    }
}
