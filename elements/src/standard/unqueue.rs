//! `Unqueue([BURST, keywords ACTIVE, LIMIT])` — pulls packets and pushes them on.
//!
//! **Ports:** `1/1`: one input, one output.
//!
//! **Processing:** `l/h`: pull input, push output.
//!
//! A task that pulls up to BURST packets (default 1; negative: everything available, read
//! back as 2147483647; zero: nothing, as in Click) from its input each time it runs and
//! pushes them out, while ACTIVE and until LIMIT packets have passed.
//!
//! **Keywords:**
//!
//! - `ACTIVE` — boolean; default true.
//! - `LIMIT` — integer; packets to pass in all. Negative, the default, means no limit.
//!
//! **Handlers:** `count` (r), `reset` and `reset_counts` (w: count to 0), `active`,
//! `burst`, `limit` (rw).
//!
//! **Example:** `RatedSource -> Queue -> Unqueue(8) -> Discard`

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;
use alloc::string::{String, ToString};

use sluice_config::args::Args;
use sluice_dataplane::{
    Batch, ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
    TaskStatus,
};

use super::common::{bool_str, parse_value};

/// The element class.
pub static Unqueue: ElementClass = ElementClass {
    name: "Unqueue",
    ports: "1/1",
    processing: "l/h",
    make,
    names: None,
};

struct UnqueueElement {
    burst: i64,
    limit: i64,
    active: bool,
    count: u64,
}

fn make(a: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let burst = unlimited_if_negative(a.read_p::<i64>("BURST").unwrap_or(1));
    let active = a.read_k::<bool>("ACTIVE").unwrap_or(true);
    let limit = a.read_k::<i64>("LIMIT").unwrap_or(-1);
    Some(Box::new(UnqueueElement {
        burst,
        limit,
        active,
        count: 0,
    }))
}

/// Click stores a negative BURST as 0x7FFFFFFF: in effect, no limit.
fn unlimited_if_negative(burst: i64) -> i64 {
    if burst < 0 {
        i64::from(i32::MAX)
    } else {
        burst
    }
}

impl Element for UnqueueElement {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        ctx.add_task();
        Ok(())
    }

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if !self.active {
            return TaskStatus::Idle;
        }
        let mut want = self.burst as u64;
        if let Ok(limit) = u64::try_from(self.limit) {
            want = want.min(limit.saturating_sub(self.count));
        }
        let mut moved = 0u64;
        while moved < want {
            let max = usize::try_from(want - moved).unwrap_or(usize::MAX);
            let Some(batch) = ctx.pull(0, max) else { break };
            moved += batch.len() as u64;
            ctx.output_batch(0, batch);
        }
        self.count += moved;
        if moved > 0 {
            TaskStatus::Busy
        } else {
            TaskStatus::Idle
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        Some(match name {
            "count" => self.count.to_string(),
            "active" => bool_str(self.active),
            "burst" => self.burst.to_string(),
            "limit" => self.limit.to_string(),
            _ => return None,
        })
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        match name {
            "reset" | "reset_counts" => self.count = 0,
            "active" => self.active = parse_value(name, value)?,
            "burst" => self.burst = unlimited_if_negative(parse_value(name, value)?),
            "limit" => self.limit = parse_value(name, value)?,
            _ => return Err(HandlerError::NoSuchHandler(name.into())),
        }
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[
            Handler::read("count"),
            Handler::write("reset"),
            Handler::write("reset_counts"),
            Handler::read_write("active"),
            Handler::read_write("burst"),
            Handler::read_write("limit"),
        ];
        H
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;

    #[test]
    fn burst_and_limit() {
        let b = Bench::new().pool(128, 2);
        let g = graph(
            &[
                ("s", "InfiniteSource", "LIMIT 100, BURST 100"),
                ("q", "Queue", ""),
                ("u", "Unqueue", "3, LIMIT 7"),
                ("o", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (1, 0, 2, 0), (2, 0, 3, 0)],
        );
        let mut r = b.router(&g).unwrap();
        r.run_once();
        assert_eq!(collected("o").len(), 3);
        r.run_rounds(5);
        assert_eq!(collected("o").len(), 4, "LIMIT 7 in all");
        assert_eq!(r.read_handler("u.count").unwrap(), "7");
        r.write_handler("u.reset", "").unwrap();
        r.write_handler("u.limit", "-1").unwrap();
        r.write_handler("u.burst", "0").unwrap();
        r.run_once();
        assert!(
            collected("o").is_empty(),
            "BURST 0 pulls nothing, as in Click"
        );
        r.write_handler("u.burst", "-1").unwrap();
        assert_eq!(r.read_handler("u.burst").unwrap(), "2147483647");
        r.run_once();
        assert_eq!(collected("o").len(), 93, "negative BURST takes everything");
        assert_eq!(r.read_handler("q.length").unwrap(), "0");
    }
}
