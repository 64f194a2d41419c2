//! `RatedSource([DATA, RATE, LIMIT, ACTIVE, keywords])` — generates packets at a given rate.
//!
//! **Ports:** `0/1`: no inputs, one output.
//!
//! **Processing:** `a`: agnostic.
//!
//! Creates packets holding DATA and emits them at RATE packets per second (default 10), at
//! most LIMIT of them (negative, the default -1, means no limit), while ACTIVE (default
//! true). Time is the router's clock. In a pull context each pull returns the packets that
//! are due.
//!
//! **Keywords:**
//!
//! - `DATA`, `RATE`, `LIMIT`, `ACTIVE` — as the positional ones.
//! - `LENGTH` — packet length, DATA truncated or repeated.
//! - `BANDWIDTH` — bytes per second, or with a unit `bps`, `kbps`, `Mbps`, `Gbps`, `Bps`,
//!   `kBps`, `MBps`: sets RATE from the packet length.
//! - `STOP` — boolean: ask the router to stop once LIMIT packets are sent; default false.
//!
//! **Handlers:** `count` (r), `reset` (w), `data`, `length`, `rate`, `limit`, `active` (rw).
//!
//! **Example:** `RatedSource(\<0800>, 10, 1000) -> Queue -> ...`
//!
//! **Differences from Click:** when the scheduler falls behind, a task run catches up with up
//! to 32 due packets in one batch (Click sends one per run); a backlog of more than a batch is
//! forgotten rather than sent as a burst. The first packet leaves at the first task run.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::{Args, Bytes};
use sluice_dataplane::clock::NS_PER_SEC;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext, TaskStatus, BATCH_MAX,
};

use super::common::{bool_str, parse_value, DEFAULT_DATA};
use super::infinitesource::SourceData;

/// The element class.
pub static RatedSource: ElementClass = ElementClass {
    name: "RatedSource",
    ports: "0/1",
    processing: "a",
    make,
    names: None,
};

struct Rated {
    data: SourceData,
    rate: u64,
    limit: i64,
    active: bool,
    stop: bool,
    count: u64,
    stopped: bool,
    /// The schedule: packet `k` after `epoch` is due at `epoch + k / rate` seconds.
    epoch: Option<u64>,
    since_epoch: u64,
}

/// Parses a bandwidth in bytes per second.
pub(crate) fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| alloc::format!("'{text}' is not a bandwidth"))?;
    let scale = match unit.trim() {
        "" | "Bps" | "B/s" => 1.0,
        "bps" | "b/s" => 0.125,
        "kbps" | "Kbps" | "kb/s" | "Kb/s" => 125.0,
        "Mbps" | "Mb/s" => 125_000.0,
        "Gbps" | "Gb/s" => 125_000_000.0,
        "kBps" | "KBps" | "kB/s" | "KB/s" => 1_000.0,
        "MBps" | "MB/s" => 1_000_000.0,
        "GBps" | "GB/s" => 1_000_000_000.0,
        _ => return Err(alloc::format!("'{text}': unknown bandwidth unit")),
    };
    // Rounded: `1.6kbps` is 200 bytes per second, not 199.
    Ok((v * scale + 0.5) as u64)
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let data = a
        .read_p::<Bytes>("DATA")
        .map_or_else(|| DEFAULT_DATA.to_vec(), |b| b.0);
    let rate = a.read_p::<u64>("RATE");
    let limit = a.read_p::<i64>("LIMIT").unwrap_or(-1);
    let active = a.read_p::<bool>("ACTIVE").unwrap_or(true);
    let length = a.read_k::<i64>("LENGTH");
    let bandwidth = a.read_k::<String>("BANDWIDTH");
    let stop = a.read_k::<bool>("STOP").unwrap_or(false);
    let data = SourceData::new(data, length.and_then(|l| usize::try_from(l).ok()));
    let rate = match (rate, bandwidth) {
        (Some(_), Some(_)) => {
            a.error_whole("RATE and BANDWIDTH are mutually exclusive");
            return None;
        }
        (_, Some(bw)) => match parse_bandwidth(&bw) {
            Ok(bw) => bw / data.packet.len().max(1) as u64,
            Err(e) => {
                a.error_whole(alloc::format!("BANDWIDTH: {e}"));
                return None;
            }
        },
        (r, None) => r.unwrap_or(10),
    };
    Some(Box::new(Rated {
        data,
        rate,
        limit,
        active,
        stop,
        count: 0,
        stopped: false,
        epoch: None,
        since_epoch: 0,
    }))
}

impl Rated {
    /// How many packets are due now, at most `max`.
    fn due(&mut self, now: u64, max: usize) -> usize {
        if !self.active || self.rate == 0 {
            return 0;
        }
        let epoch = *self.epoch.get_or_insert(now);
        let elapsed = u128::from(now.saturating_sub(epoch));
        // Packets due by `now`, counting the one at the epoch itself.
        let due_total = (elapsed * u128::from(self.rate) / u128::from(NS_PER_SEC)) as u64 + 1;
        let mut behind = due_total.saturating_sub(self.since_epoch);
        if behind > BATCH_MAX as u64 {
            // Too far behind: restart the schedule rather than burst.
            self.epoch = Some(now);
            self.since_epoch = 0;
            behind = 1;
        }
        let n = (behind as usize).min(max);
        match u64::try_from(self.limit) {
            Ok(l) => n.min(l.saturating_sub(self.count) as usize),
            Err(_) => n,
        }
    }

    /// Tells the router when the next packet is due, so a driver loop that sleeps while
    /// idle wakes for it.
    fn wake_for_next(&self, ctx: &mut Context<'_>) {
        let (Some(epoch), true) = (self.epoch, self.active && self.rate > 0) else {
            return;
        };
        if u64::try_from(self.limit).is_ok_and(|l| self.count >= l) {
            return;
        }
        // Packet number `since_epoch` (counting from 0) is due `since_epoch / rate` seconds
        // after the epoch.
        let offset =
            (u128::from(self.since_epoch) * u128::from(NS_PER_SEC)).div_ceil(u128::from(self.rate));
        ctx.wake_at(epoch.saturating_add(u64::try_from(offset).unwrap_or(u64::MAX)));
    }

    fn emit(
        &mut self,
        ctx: &mut Context<'_>,
        n: usize,
        mut out: impl FnMut(&mut Context<'_>, sluice_dataplane::Packet),
    ) {
        for _ in 0..n {
            let Some(p) = self.data.emit(ctx, true) else {
                break;
            };
            out(ctx, p);
            self.count += 1;
            self.since_epoch += 1;
        }
    }

    fn check_stop(&mut self, ctx: &mut Context<'_>) {
        if self.stop && !self.stopped && u64::try_from(self.limit).is_ok_and(|l| self.count >= l) {
            self.stopped = true;
            ctx.request_stop();
        }
    }
}

impl Element for Rated {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn pull(&mut self, ctx: &mut Context<'_>, _: usize, max: usize) -> Option<Batch> {
        let n = self.due(ctx.now(), max);
        let mut batch = Batch::new();
        self.emit(ctx, n, |_, p| batch.push(p));
        self.check_stop(ctx);
        self.wake_for_next(ctx);
        (!batch.is_empty()).then_some(batch)
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.data.check(ctx)?;
        if !ctx.output_is_pull(0) {
            ctx.add_task();
        }
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        let n = self.due(ctx.now(), BATCH_MAX);
        self.emit(ctx, n, |ctx, p| ctx.output(0, p));
        self.check_stop(ctx);
        self.wake_for_next(ctx);
        if n > 0 {
            TaskStatus::Busy
        } else {
            TaskStatus::Idle
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "count" => Some(self.count.to_string()),
            "rate" => Some(self.rate.to_string()),
            "limit" => Some(self.limit.to_string()),
            "active" => Some(bool_str(self.active)),
            _ => self.data.read(name),
        }
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset" => {
                self.count = 0;
                self.stopped = false;
                self.epoch = None;
                self.since_epoch = 0;
            }
            "rate" => {
                self.rate = parse_value(name, value)?;
                self.epoch = None;
                self.since_epoch = 0;
            }
            "limit" => {
                self.limit = parse_value(name, value)?;
                self.stopped = false;
            }
            "active" => {
                self.active = parse_value(name, value)?;
                self.epoch = None;
                self.since_epoch = 0;
            }
            _ => {
                if !self.data.write(name, value)? {
                    return Err(HandlerError::NoSuchHandler(name.into()));
                }
            }
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::write("reset"),
            Handler::read_write("data"),
            Handler::read_write("length"),
            Handler::read_write("rate"),
            Handler::read_write("limit"),
            Handler::read_write("active"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn emits_at_the_rate_of_the_router_clock() {
        let b = Bench::new();
        let g = graph(
            &[
                ("s", "RatedSource", "\\<01>, 4, 6, STOP true"),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_once();
        assert_eq!(collected("c").len(), 1, "first packet at once");
        r.run_once();
        assert_eq!(collected("c").len(), 0, "clock did not move");
        b.clock.advance(250_000_000);
        r.run_once();
        assert_eq!(collected_bytes("c"), [[1]]);
        b.clock.advance(500_000_000);
        r.run_once();
        assert_eq!(collected("c").len(), 2, "two periods, two packets");
        b.clock.advance(10_000_000_000);
        r.run_rounds(3);
        assert_eq!(
            collected("c").len(),
            1,
            "a long backlog is forgotten, not burst"
        );
        b.clock.advance(250_000_000);
        r.run_rounds(3);
        assert_eq!(collected("c").len(), 1, "LIMIT 6 reached");
        assert!(r.is_stopped());
        assert_eq!(r.read_handler("s.count").unwrap(), "6");
    }

    #[test]
    fn tells_a_sleeping_loop_when_the_next_packet_is_due() {
        use sluice_dataplane::Clock;
        let b = Bench::new();
        let g = graph(
            &[("s", "RatedSource", "\\<01>, 4, 3"), ("c", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        let start = b.clock.now_ns();
        r.run_slice();
        assert_eq!(collected("c").len(), 1);
        assert_eq!(r.next_deadline(), Some(start + 250_000_000));
        b.clock.advance(100_000_000);
        r.run_slice();
        assert_eq!(
            r.next_deadline(),
            Some(start + 250_000_000),
            "still waiting for the same packet"
        );
        b.clock.advance(400_000_000);
        r.run_slice();
        assert_eq!(collected("c").len(), 2, "the second and third");
        assert_eq!(
            r.next_deadline(),
            None,
            "LIMIT 3 reached: nothing to wake for"
        );
    }

    #[test]
    fn bandwidth_sets_the_rate() {
        let b = Bench::new().pool(8, 2);
        let g = graph(
            &[
                (
                    "s",
                    "RatedSource",
                    "LENGTH 100, BANDWIDTH 8kbps, ACTIVE false",
                ),
                ("c", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let mut r = b.router(&g).unwrap();
        assert_eq!(r.read_handler("s.rate").unwrap(), "10");
        r.run_rounds(2);
        assert!(collected("c").is_empty(), "inactive");
        r.write_handler("s.rate", "1000").unwrap();
        r.write_handler("s.active", "true").unwrap();
        r.run_once();
        b.clock.advance(3_000_000);
        r.run_once();
        assert_eq!(collected("c").len(), 4);
    }
}
