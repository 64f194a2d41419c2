//! `TimedSource([INTERVAL, DATA, keywords LIMIT, ACTIVE, STOP, HEADROOM])` — sends a packet every INTERVAL.
//!
//! **Ports:** `0/1`: no inputs, one output.
//!
//! **Processing:** `h`: push.
//!
//! A timer that pushes a packet holding DATA out of its output every INTERVAL (a time,
//! default 0.5 seconds), the first INTERVAL after the router starts. Each packet is
//! timestamped with its time. After LIMIT packets (default -1: no limit) the source stops
//! sending; with STOP true, the next time the timer fires after the last packet it asks the
//! router to stop. The default DATA is Click's 69-byte text.
//!
//! **Keywords:**
//!
//! - `DATA`: data, as the positional argument (Click strings: `"text"`, `\<08 00>`).
//! - `INTERVAL`: time, as the positional argument.
//! - `LIMIT`: integer; negative for no limit.
//! - `ACTIVE`: bool, default true; an inactive source sends nothing.
//! - `STOP`: bool, default false.
//! - `HEADROOM`: bytes in front of each packet; default the pool's.
//!
//! **Handlers:** `data` (rw: the bytes themselves, unquoted), `interval` (rw; a zero interval is rejected), `limit` (rw),
//! `active` (rw), `count` (r: packets sent), `headroom` (rw), `reset` (w: the count
//! restarts at 0 and an active source sends again).
//!
//! **Example:** `TimedSource(INTERVAL 0.333) -> ...`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use sluice_config::args::{Args, Bytes, FromArg};
use sluice_dataplane::{
    Batch, ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError,
    InitContext,
};

use super::common::{bool_str, parse_value, unparse_data, DEFAULT_DATA};
use super::delayunqueue::unparse_interval;

/// `TimedSource`: see the module docs.
pub static TimedSource: ElementClass = ElementClass {
    name: "TimedSource",
    ports: "0/1",
    processing: "h",
    make,
    names: None,
};

struct TimedSourceElement {
    data: Vec<u8>,
    interval_ns: u64,
    limit: i64,
    count: u64,
    active: bool,
    stop: bool,
    headroom: Option<usize>,
    /// When the timer fires next, if it is armed.
    next: Option<u64>,
}

const HANDLERS: &[Handler] = &[
    Handler::read_write("data"),
    Handler::read_write("interval"),
    Handler::read_write("limit"),
    Handler::read_write("active"),
    Handler::read("count"),
    Handler::read_write("headroom"),
    Handler::write("reset"),
];

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let interval = a
        .read_p::<Duration>("INTERVAL")
        .unwrap_or(Duration::from_millis(500));
    let data = a
        .read_p::<Bytes>("DATA")
        .map_or_else(|| DEFAULT_DATA.to_vec(), |b| b.0);
    let limit = a.read_k::<i64>("LIMIT").unwrap_or(-1);
    let active = a.read_k::<bool>("ACTIVE").unwrap_or(true);
    let stop = a.read_k::<bool>("STOP").unwrap_or(false);
    let headroom = a.read_k::<usize>("HEADROOM");
    if interval.is_zero() {
        a.error_whole("INTERVAL must be more than 0");
        return None;
    }
    Some(Box::new(TimedSourceElement {
        data,
        interval_ns: u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX),
        limit,
        count: 0,
        active,
        stop,
        headroom,
        next: None,
    }))
}

impl TimedSourceElement {
    fn fits(&self, buffer: usize, pool_headroom: usize) -> Result<(), String> {
        let head = self.headroom.unwrap_or(pool_headroom);
        if head.saturating_add(self.data.len()) > buffer {
            return Err(format!(
                "a packet of {} bytes after {head} bytes of headroom does not fit a \
                 {buffer}-byte buffer",
                self.data.len()
            ));
        }
        Ok(())
    }

    fn arm(&mut self, ctx: &mut Context<'_>, at: u64) {
        self.next = Some(at);
        ctx.set_timer(at);
    }
}

impl Element for TimedSourceElement {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        self.fits(ctx.pool().buffer_size(), ctx.pool().headroom())?;
        if self.active {
            let at = ctx.now().saturating_add(self.interval_ns);
            self.next = Some(at);
            ctx.set_timer(at);
        }
        Ok(())
    }

    fn run_timer(&mut self, ctx: &mut Context<'_>) {
        let fired = self.next.take().unwrap_or_else(|| ctx.now());
        if !self.active {
            return;
        }
        if u64::try_from(self.limit).is_ok_and(|l| self.count >= l) {
            if self.stop {
                ctx.request_stop();
            }
            return;
        }
        let head = self.headroom.unwrap_or(ctx.pool().headroom());
        let packet = ctx
            .pool()
            .alloc(0)
            .and_then(|mut p| p.set_range(head, self.data.len()).ok().map(|()| p));
        // An empty pool skips this packet; the schedule goes on.
        if let Some(mut p) = packet {
            p.data_mut().copy_from_slice(&self.data);
            p.anno_mut().timestamp_ns = ctx.event_time();
            self.count += 1;
            ctx.output(0, p);
        }
        self.arm(ctx, fired.saturating_add(self.interval_ns));
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            // Raw, as Click's handler gives it; bytes that are not text in Click's escape.
            "data" => match core::str::from_utf8(&self.data) {
                Ok(text) => text.to_string(),
                Err(_) => unparse_data(&self.data),
            },
            "interval" => unparse_interval(self.interval_ns),
            "limit" => self.limit.to_string(),
            "active" => bool_str(self.active),
            "count" => self.count.to_string(),
            "headroom" => self
                .headroom
                .map_or_else(|| "default".to_string(), |h| h.to_string()),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        ctx: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "data" => {
                // Raw, as in Click: the value's bytes, not a Click string.
                let old = core::mem::replace(&mut self.data, value.as_bytes().to_vec());
                if let Err(e) = self.fits(ctx.pool().buffer_size(), ctx.pool().headroom()) {
                    self.data = old;
                    return Err(HandlerError::BadValue(e));
                }
            }
            "interval" => match <Duration as FromArg>::from_arg(value.trim(), None) {
                Ok(d) if !d.is_zero() => {
                    self.interval_ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                }
                _ => return Err(HandlerError::BadValue("bad interval".into())),
            },
            "limit" => self.limit = parse_value(name, value)?,
            "headroom" => {
                let old = self.headroom.replace(parse_value(name, value)?);
                if let Err(e) = self.fits(ctx.pool().buffer_size(), ctx.pool().headroom()) {
                    self.headroom = old;
                    return Err(HandlerError::BadValue(e));
                }
            }
            "active" | "reset" => {
                if name == "active" {
                    self.active = parse_value(name, value)?;
                } else {
                    self.count = 0;
                }
                if self.active && self.next.is_none() {
                    let now = ctx.now();
                    self.arm(ctx, now);
                }
            }
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    fn rig(config: &str) -> Harness {
        Harness::new(Bench::new(), &[("s", "TimedSource", config, 0, 1)]).unwrap()
    }

    #[test]
    fn one_packet_per_interval_up_to_the_limit() {
        let mut h = rig("10ms, \"hello\", LIMIT 3");
        h.router.run_rounds(2);
        assert!(h.take().is_empty(), "the first is one interval away");
        for k in 1..=5u64 {
            h.advance(10_000_000);
            let out = h.take();
            assert_eq!(out.len(), usize::from(k <= 3), "tick {k}");
            if let Some(o) = out.first() {
                assert_eq!(o.data, b"hello");
                assert_eq!(o.anno.timestamp_ns, 1_000_000_000 + k * 10_000_000);
            }
        }
        assert_eq!(h.read("count"), "3");
        h.write("reset", "").unwrap();
        h.advance(0);
        assert_eq!(h.take().len(), 1, "reset sends again at once");
        assert_eq!(h.read("interval"), "10ms");
        assert_eq!(h.read("data"), "hello");
        h.write("data", "a \"b\"").unwrap();
        h.advance(10_000_000);
        assert_eq!(h.take()[0].data, b"a \"b\"");
    }

    #[test]
    fn inactive_sends_nothing_until_activated_and_handlers_check_values() {
        let mut h = rig("1, ACTIVE false");
        h.advance(5_000_000_000);
        assert!(h.take().is_empty());
        h.write("active", "true").unwrap();
        h.advance(0);
        let out = h.take();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, super::DEFAULT_DATA);
        assert!(h.write("interval", "0").is_err());
        assert!(h.write("interval", "soon").is_err());
        assert!(h.write("active", "perhaps").is_err());
        assert!(h.write("data", &"x".repeat(5000)).is_err());
        assert!(h.write("headroom", "4000").is_err());
        h.write("headroom", "10").unwrap();
        h.advance(1_000_000_000);
        assert_eq!(h.take()[0].headroom.len(), 10);
    }

    #[test]
    fn stop_asks_the_router_to_stop_after_the_last() {
        let g = graph(
            &[
                ("s", "TimedSource", "1ms, LIMIT 2, STOP true"),
                ("d", "Discard", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let b = Bench::new();
        let mut r = b.router(&g).unwrap();
        b.clock.advance(2_000_000);
        r.run_rounds(2);
        assert!(!r.is_stopped());
        b.clock.advance(1_000_000);
        r.run_rounds(2);
        assert!(r.is_stopped());
        assert_eq!(r.read_handler("d.count").unwrap(), "2");
    }

    #[test]
    fn bad_arguments_are_errors() {
        for (cfg, want) in [
            ("0", "INTERVAL"),
            ("soon", "INTERVAL"),
            ("1, LIMIT x", "LIMIT"),
        ] {
            let g = graph(&[("s", "TimedSource", cfg)], &[]);
            let e = config_error(&g);
            assert!(e.contains(want), "{cfg}: {e}");
        }
    }
}
