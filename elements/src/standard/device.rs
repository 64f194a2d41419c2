//! `FromDevice(DEVNAME [, keywords])` — receives packets from a network device.
//!
//! **Ports:** `0/1`: no inputs, one output.
//!
//! **Processing:** `h`: push.
//!
//! DEVNAME names a device as the platform knows it: a name (`eth0`, `tap0`, `virtio0`), an
//! index (`0`, `1`: the VM's NICs in order) or an Ethernet address. On the host, a device not
//! open yet is opened by name (TAP, AF_PACKET). A device may be used by one FromDevice and
//! one ToDevice at once.
//!
//! A task polls the device and pushes what it received, at most BURST packets per run
//! (default 32, one batch). Each packet's timestamp annotation is set from the router clock
//! (unless `TIMESTAMP false`) and its device annotation to the device's index.
//!
//! **Keywords:**
//!
//! - `BURST` — integer ≥ 1; packets per task run. Default 32.
//! - `TIMESTAMP` — boolean; set the timestamp annotation. Default true.
//! - `ACTIVE` — boolean; receive at all. Default true.
//! - `PROMISC`, `SNIFFER`, `SNAPLEN`, `OUTBOUND`, `HEADROOM`, `METHOD`, `FORCE_IP`, `ENCAP` —
//!   Click's, accepted for compatibility; the platform's device is set up by the platform, so
//!   they have no effect.
//!
//! **Handlers:** `count` (r: packets pushed), `reset_counts` (w), `active` (rw), and the
//! device's counters: `rx_packets`, `rx_bytes`, `rx_dropped`, `tx_packets`, `tx_bytes`,
//! `tx_dropped`, `tx_ring_full` (r; as of the element's last task run).
//!
//! **Hot reconfiguration:** a FromDevice that replaces one of the same name through
//! `hotconfig` goes on from its `count`. The device itself is not touched: frames that
//! arrive during the swap wait in it for the new graph.
//!
//! **Example:** `FromDevice(0) -> Queue -> ToDevice(1)`
//!
//! **Differences from Click:** BURST counts batches of up to 32: a run receives whole
//! batches until BURST packets are reached, so it may take up to 31 more.
//!
//! ## `ToDevice(DEVNAME [, keywords])` — sends packets to a network device.
//!
//! **Ports:** `1/0`: one input, no outputs.
//!
//! **Processing:** `a`: agnostic.
//!
//! DEVNAME names the device as for `FromDevice`: a name (`eth0`, `tap0`, `virtio0`), an index
//! (`0`, `1`: the VM's NICs in order) or an Ethernet address; on the host a device not open
//! yet is opened by name (TAP, AF_PACKET).
//!
//! With a pull input (Click's usual `Queue -> ToDevice`), a task pulls up to BURST packets
//! (default 32) and hands them to the device; packets the device cannot take yet (ring
//! full) are kept and offered again before anything new is pulled, so none is lost. With a
//! push input, packets go to the device at once; those it cannot take wait in a backlog of
//! one batch, and beyond that they are dropped and counted in `drops`.
//!
//! **Keywords:**
//!
//! - `BURST` — integer ≥ 1; packets pulled per task run. Default 32.
//! - `QUIET`, `ALLOW_NONEXISTENT`, `METHOD`, `DEBUG` — accepted; no effect.
//!
//! **Handlers:** `count` (r: packets the device took), `drops` (r), `pending` (r: packets
//! waiting for the device), `reset_counts` (w), and the device's counters as for
//! FromDevice.
//!
//! **Hot reconfiguration:** a ToDevice that replaces one of the same name through
//! `hotconfig` goes on from its `count` and `drops` and sends the packets still waiting for
//! the device first; if it names another device, those packets are dropped with a warning.
//!
//! **Example:** `FromDevice(0) -> Queue -> ToDevice(1)`

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::device::DeviceId;
use sluice_dataplane::{
    Batch, ConfigContext, Context, DeviceStats, Element, ElementClass, Handler, HandlerError,
    InitContext, TaskStatus, BATCH_MAX,
};

use super::common::{bool_str, parse_value};

/// `FromDevice`.
#[allow(non_upper_case_globals)]
pub static FromDevice: ElementClass = ElementClass {
    name: "FromDevice",
    ports: "0/1",
    processing: "h",
    make: make_from,
    names: None,
};

/// `ToDevice`.
#[allow(non_upper_case_globals)]
pub static ToDevice: ElementClass = ElementClass {
    name: "ToDevice",
    ports: "1/0",
    processing: "a",
    make: make_to,
    names: None,
};

/// Click keywords accepted for compatibility, without effect here.
const FROM_IGNORED: &[&str] = &[
    "PROMISC",
    "SNIFFER",
    "SNAPLEN",
    "OUTBOUND",
    "HEADROOM",
    "METHOD",
    "FORCE_IP",
    "ENCAP",
    "BPF_FILTER",
    "CAPTURE",
];
const TO_IGNORED: &[&str] = &["QUIET", "ALLOW_NONEXISTENT", "METHOD", "DEBUG"];

fn ignore_keywords(a: &mut Args<'_>, keys: &[&str]) {
    for k in keys {
        let _ = a.read_k::<String>(k);
    }
}

fn read_burst(a: &mut Args<'_>) -> Option<usize> {
    let burst = a.read_k::<i64>("BURST").unwrap_or(BATCH_MAX as i64);
    if burst < 1 {
        a.error_whole("BURST must be >= 1");
        return None;
    }
    Some(usize::try_from(burst).unwrap_or(usize::MAX))
}

fn stats_handler(stats: &DeviceStats, name: &str) -> Option<String> {
    stats.get(name).map(|v| v.to_string())
}

struct From {
    devname: String,
    dev: DeviceId,
    burst: usize,
    timestamp: bool,
    active: bool,
    count: u64,
    stats: DeviceStats,
}

fn make_from(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let devname = a.read_mp::<String>("DEVNAME");
    let burst = read_burst(a);
    let timestamp = a.read_k::<bool>("TIMESTAMP").unwrap_or(true);
    let active = a.read_k::<bool>("ACTIVE").unwrap_or(true);
    ignore_keywords(a, FROM_IGNORED);
    Some(Box::new(From {
        devname: devname?,
        dev: 0,
        burst: burst?,
        timestamp,
        active,
        count: 0,
        stats: DeviceStats::default(),
    }))
}

impl Element for From {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn take_state(&mut self, old: &mut dyn Element, _: &mut Vec<String>) {
        if let Some(old) = old.downcast_mut::<From>() {
            self.count = old.count;
            self.stats = old.stats;
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.dev = ctx.device(&self.devname)?;
        ctx.add_task();
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if !self.active {
            return TaskStatus::Idle;
        }
        let now = ctx.now();
        let anno_dev = u8::try_from(self.dev).unwrap_or(u8::MAX);
        let mut total = 0;
        while total < self.burst {
            let mut batch = Batch::new();
            let n = match ctx.device(self.dev) {
                Some(mut d) => {
                    let n = d.receive(ctx.pool(), &mut batch);
                    self.stats = d.stats();
                    n
                }
                None => 0,
            };
            if n == 0 {
                break;
            }
            total += n;
            for p in &mut batch {
                let a = p.anno_mut();
                a.device = anno_dev;
                if self.timestamp {
                    a.timestamp_ns = now;
                }
            }
            ctx.output_batch(0, batch);
        }
        self.count += total as u64;
        if total > 0 {
            TaskStatus::Busy
        } else {
            TaskStatus::Idle
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "count" => Some(self.count.to_string()),
            "active" => Some(bool_str(self.active)),
            _ => stats_handler(&self.stats, name),
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset_counts" => self.count = 0,
            "active" => self.active = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::write("reset_counts"),
            Handler::read_write("active"),
            Handler::read("rx_packets"),
            Handler::read("rx_bytes"),
            Handler::read("rx_dropped"),
            Handler::read("tx_packets"),
            Handler::read("tx_bytes"),
            Handler::read("tx_dropped"),
            Handler::read("tx_ring_full"),
        ];
        H
    }
}

struct To {
    devname: String,
    dev: DeviceId,
    burst: usize,
    pull: bool,
    /// Packets the device could not take yet, offered again first.
    pending: Batch,
    count: u64,
    drops: u64,
    stats: DeviceStats,
}

fn make_to(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let devname = a.read_mp::<String>("DEVNAME");
    let burst = read_burst(a);
    ignore_keywords(a, TO_IGNORED);
    Some(Box::new(To {
        devname: devname?,
        dev: 0,
        burst: burst?,
        pull: false,
        pending: Batch::new(),
        count: 0,
        drops: 0,
        stats: DeviceStats::default(),
    }))
}

impl To {
    /// Offers `batch` to the device; what it does not take stays in `batch`.
    #[inline]
    fn transmit(&mut self, ctx: &Context<'_>, batch: &mut Batch) {
        if batch.is_empty() {
            return;
        }
        if let Some(mut d) = ctx.device(self.dev) {
            self.count += d.transmit(batch) as u64;
            self.stats = d.stats();
        }
    }

    /// Retries the backlog; true when it is empty afterwards.
    fn flush_pending(&mut self, ctx: &Context<'_>) -> bool {
        let mut pending = core::mem::take(&mut self.pending);
        self.transmit(ctx, &mut pending);
        self.pending = pending;
        self.pending.is_empty()
    }
}

impl Element for To {
    #[inline]
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, mut batch: Batch) {
        if self.flush_pending(ctx) {
            self.transmit(ctx, &mut batch);
        }
        for p in batch {
            if let Err(e) = self.pending.try_push(p) {
                drop(e);
                self.drops += 1;
            }
        }
    }

    fn take_state(&mut self, old: &mut dyn Element, warnings: &mut Vec<String>) {
        let Some(old) = old.downcast_mut::<To>() else {
            return;
        };
        self.count = old.count;
        self.drops = old.drops;
        self.stats = old.stats;
        // Frames the device could not take yet go out first, to the device they were for.
        let waiting = core::mem::take(&mut old.pending);
        if waiting.is_empty() {
            return;
        }
        if old.dev == self.dev {
            self.pending = waiting;
        } else {
            warnings.push(format!(
                "{} packets waiting for {} dropped: it now sends to {}",
                waiting.len(),
                old.devname,
                self.devname
            ));
        }
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.dev = ctx.device(&self.devname)?;
        self.pull = ctx.input_is_pull(0);
        // Pull: the task pulls. Push: the task retries the backlog.
        ctx.add_task();
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        let before = self.count;
        if !self.flush_pending(ctx) {
            return if self.count > before {
                TaskStatus::Busy
            } else {
                TaskStatus::Idle
            };
        }
        if self.pull {
            let mut left = self.burst;
            while left > 0 {
                let Some(mut batch) = ctx.pull(0, left.min(BATCH_MAX)) else {
                    break;
                };
                left = left.saturating_sub(batch.len());
                self.transmit(ctx, &mut batch);
                if !batch.is_empty() {
                    // Ring full: keep the rest for the next run.
                    self.pending = batch;
                    break;
                }
            }
        }
        if self.count > before {
            TaskStatus::Busy
        } else {
            TaskStatus::Idle
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "count" => Some(self.count.to_string()),
            "drops" => Some(self.drops.to_string()),
            "pending" => Some(self.pending.len().to_string()),
            _ => stats_handler(&self.stats, name),
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        _: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset_counts" => {
                self.count = 0;
                self.drops = 0;
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::read("drops"),
            Handler::read("pending"),
            Handler::write("reset_counts"),
            Handler::read("rx_packets"),
            Handler::read("rx_bytes"),
            Handler::read("rx_dropped"),
            Handler::read("tx_packets"),
            Handler::read("tx_bytes"),
            Handler::read("tx_dropped"),
            Handler::read("tx_ring_full"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use alloc::boxed::Box;
    use alloc::vec;
    use alloc::vec::Vec;

    use sluice_dataplane::{LoopbackDevice, NetDevice};

    use crate::testutil::*;

    fn dev(name: &str, last: u8) -> LoopbackDevice {
        LoopbackDevice::new(name, [2, 0, 0, 0, 0, last])
    }

    #[test]
    fn from_device_annotates_and_counts() {
        let b = Bench::new();
        let d = dev("eth0", 1);
        let wire = d.wire();
        for i in 0..40u8 {
            wire.borrow_mut().to_device.push_back(vec![i; 60]);
        }
        let g = graph(
            &[("fd", "FromDevice", "eth0, BURST 1"), ("c", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let mut r = b
            .router_with(&g, vec![Box::new(d) as Box<dyn NetDevice>])
            .unwrap();
        r.run_once();
        let got = collected("c");
        assert_eq!(got.len(), 32, "one batch per run at BURST 1");
        assert_eq!(got[5].data, [5; 60]);
        assert_eq!(got[0].anno.device, 0);
        assert_eq!(got[0].anno.timestamp_ns, 1_000_000_000);
        drop(got);
        r.run_once();
        assert_eq!(collected("c").len(), 8);
        assert_eq!(r.read_handler("fd.count").unwrap(), "40");
        assert_eq!(r.read_handler("fd.rx_packets").unwrap(), "40");
        assert_eq!(r.read_handler("fd.rx_bytes").unwrap(), "2400");
        assert!(config_error(&graph(
            &[("fd", "FromDevice", "nope"), ("c", "Collect", "")],
            &[(0, 0, 1, 0)]
        ))
        .contains("no device 'nope'"));
    }

    #[test]
    fn to_device_pull_keeps_what_the_ring_refuses() {
        let b = Bench::new();
        let mut d = dev("eth1", 2);
        d.tx_ring = 3;
        let wire = d.wire();
        let g = graph(
            &[
                ("s", "InfiniteSource", "\\<01020304>, LIMIT 10, BURST 10"),
                ("q", "Queue", ""),
                ("td", "ToDevice", "1"),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0)],
        );
        let e = b.router_with(
            &g,
            vec![Box::new(dev("eth0", 1)) as Box<dyn NetDevice>, Box::new(d)],
        );
        let mut r = e.unwrap();
        r.run_once();
        assert_eq!(wire.borrow().from_device.len(), 3);
        assert_eq!(r.read_handler("td.pending").unwrap(), "7");
        r.run_rounds(10);
        assert_eq!(wire.borrow().from_device.len(), 10, "nothing lost");
        assert!(wire.borrow().from_device.iter().all(|f| f == &[1, 2, 3, 4]));
        assert_eq!(r.read_handler("td.count").unwrap(), "10");
        assert_eq!(r.read_handler("td.drops").unwrap(), "0");
        assert_eq!(r.read_handler("td.tx_packets").unwrap(), "10");
        assert_eq!(b.pool.stats().free, 64);
    }

    #[test]
    fn hotconfig_keeps_counts_and_the_frames_waiting_for_the_device() {
        let b = Bench::new().pool(128, 2);
        let mut d = dev("eth0", 1);
        d.tx_ring = 3;
        let wire = d.wire();
        let g = |config: &str| {
            graph(
                &[("i", "Idle", ""), ("td", "ToDevice", config)],
                &[(0, 0, 1, 0)],
            )
        };
        let mut r = b
            .router_with(&g("eth0"), vec![Box::new(d) as Box<dyn NetDevice>])
            .unwrap();
        let frames: Vec<&[u8]> = vec![b"abc"; 20];
        r.push_to("td", 0, b.batch(&frames)).unwrap();
        assert_eq!(r.read_handler("td.pending").unwrap(), "17");
        let warnings = hotswap(&mut r, &g("eth0, BURST 8")).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(r.read_handler("td.pending").unwrap(), "17");
        assert_eq!(r.read_handler("td.count").unwrap(), "3");
        r.run_rounds(10);
        assert_eq!(wire.borrow().from_device.len(), 20, "every frame sent");
        assert_eq!(r.read_handler("td.count").unwrap(), "20");
        assert_eq!(b.pool.stats().free, 128);
    }

    #[test]
    fn to_device_push_backlog_then_drops() {
        let b = Bench::new().pool(128, 2);
        let mut d = dev("eth0", 1);
        d.tx_ring = 0;
        let wire = d.wire();
        let g = graph(
            &[("i", "Idle", ""), ("td", "ToDevice", "eth0")],
            &[(0, 0, 1, 0)],
        );
        let mut r = b
            .router_with(&g, vec![Box::new(d) as Box<dyn NetDevice>])
            .unwrap();
        let frames: Vec<&[u8]> = vec![b"abc"; 20];
        r.push_to("td", 0, b.batch(&frames)).unwrap();
        r.push_to("td", 0, b.batch(&frames)).unwrap();
        assert_eq!(r.read_handler("td.pending").unwrap(), "32");
        assert_eq!(r.read_handler("td.drops").unwrap(), "8");
        assert!(wire.borrow().from_device.is_empty());
        assert_eq!(b.pool.stats().free, 128 - 32);
    }
}
