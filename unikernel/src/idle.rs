//! Poll under load, sleep when idle (NAPI's policy, for one CPU).
//!
//! The main loop runs scheduler slices back to back while they move packets. Once slices
//! have moved nothing for [`DEFAULT_SPIN`] after the last frame a NIC received
//! (`idle_spin_us=` on the command line), or right after work of the router's own (a timer,
//! a rate-limited source), the next idle slice tries to sleep: every NIC acknowledges its
//! interrupt and turns notifications on, then looks at its rings once more (`Router::arm_wakeups`); if nothing is waiting there or
//! on the control channel, the CPU halts until a device line, the control channel's UART or
//! the local APIC timer, armed for the router's next deadline (its earliest timer, or a
//! rate-limited element's next packet), wakes it. The loop then polls as before: a frame
//! keeps it polling, a timer or a spurious wake-up goes back to sleep after one slice.
//!
//! `idle=poll` on the command line never sleeps (pure polling, one busy host CPU per VM, the
//! lowest latency under TCG); the default is `idle=halt`. When the interrupt controllers
//! cannot be set up the loop polls and says why at boot.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::Cell;
use core::time::Duration;

use sluice_dataplane::Router;

use crate::arch::apic::{Interrupts, Trigger};
use crate::arch::rdtsc;
use crate::clock;
use crate::net::NicInfo;
use crate::pvh::Cmdline;

/// Idle time polled after the last received frame before sleeping: long enough that a busy
/// flow (the next TCP segment, the next burst of a blaster) is caught by polling rather than
/// by a wake-up, short enough that a VM woken by a frame now and then polls a negligible
/// share of a host CPU.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(1000);

/// The control channel's UART line (COM2 on the ISA bus).
const CONTROL_IRQ: u32 = 3;

/// What the loop did while idle; the control channel's `idle_*` handlers.
#[derive(Debug, Default)]
pub struct IdleStats {
    /// Times the CPU halted.
    pub sleeps: Cell<u64>,
    /// TSC ticks spent halted.
    pub asleep_ticks: Cell<u64>,
}

impl IdleStats {
    /// Time spent halted.
    pub fn asleep(&self) -> Duration {
        clock::ticks_to_duration(self.asleep_ticks.get())
    }
}

/// The idle policy and its interrupt controllers.
pub struct Idle {
    /// `None`: poll only (`idle=poll`, or no usable interrupt controller).
    interrupts: Option<Interrupts>,
    spin_ticks: u64,
    /// TSC of the first idle slice in the current idle run.
    idle_since: Option<u64>,
    pub stats: Rc<IdleStats>,
}

impl Idle {
    /// Reads `idle=` and `idle_spin_us=`, and routes the NICs' and the control channel's
    /// interrupt lines.
    pub fn new(cmdline: &Cmdline<'_>, nics: &[Rc<NicInfo>]) -> Self {
        let tsc_khz = clock::calibration().map_or(0, |c| c.tsc_khz);
        let spin = cmdline
            .get_u64("idle_spin_us")
            .map_or(DEFAULT_SPIN, Duration::from_micros);
        let spin_ticks = u64::try_from(spin.as_micros()).unwrap_or(u64::MAX) * tsc_khz / 1000;
        let interrupts = match cmdline.get("idle") {
            Some("poll") => None,
            Some(other) if other != "halt" => {
                log::warn!("idle={other}: expected halt or poll; polling");
                None
            }
            _ => Self::interrupts(tsc_khz, nics)
                .map_err(|e| log::warn!("idle: {e}; polling instead of sleeping"))
                .ok(),
        };
        if let Some(i) = &interrupts {
            log::debug!(
                "idle: halting {} us after the last frame, timer {}",
                spin.as_micros(),
                i.timer_mode()
            );
        }
        Self {
            interrupts,
            spin_ticks,
            idle_since: None,
            stats: Rc::default(),
        }
    }

    fn interrupts(tsc_khz: u64, nics: &[Rc<NicInfo>]) -> Result<Interrupts, String> {
        let interrupts = Interrupts::init(tsc_khz).map_err(|e| format!("{e}"))?;
        for nic in nics {
            let gsi = nic
                .irq
                .ok_or_else(|| format!("{} has no interrupt line", nic.name))?;
            interrupts
                .route(gsi, nic.trigger)
                .map_err(|e| format!("{}: {e}", nic.name))?;
        }
        interrupts
            .route(CONTROL_IRQ, Trigger::Edge)
            .map_err(|e| format!("control channel: {e}"))?;
        Ok(interrupts)
    }

    /// `halt` or `poll`.
    pub fn mode(&self) -> &'static str {
        if self.interrupts.is_some() {
            "halt"
        } else {
            "poll"
        }
    }

    /// A slice moved packets. `network`: frames came in from a NIC, so more may follow:
    /// poll for the whole idle budget once they stop. Work of the router's own (a timer, a
    /// rate-limited source) is not followed by more, so the loop may sleep as soon as the
    /// work is done.
    #[inline]
    pub fn busy(&mut self, network: bool) {
        self.idle_since = if network {
            None
        } else {
            Some(rdtsc().wrapping_sub(self.spin_ticks))
        };
    }

    /// A slice moved nothing: sleep if the loop has been idle long enough and nothing is
    /// waiting. `input_waiting` says whether the control channel has unread bytes. Returns
    /// whether the CPU slept (the caller then looks at the control channel at once).
    pub fn idle(&mut self, router: &Router, input_waiting: bool) -> bool {
        let Some(interrupts) = &mut self.interrupts else {
            return false;
        };
        let now = rdtsc();
        let since = *self.idle_since.get_or_insert(now);
        if now.wrapping_sub(since) < self.spin_ticks || input_waiting || !router.arm_wakeups() {
            return false;
        }
        let deadline = match router.next_deadline() {
            Some(ns) => match clock::tsc_at(ns) {
                Some(tsc) if tsc <= rdtsc() => return false,
                tsc => tsc,
            },
            None => None,
        };
        let before = rdtsc();
        interrupts.sleep(deadline);
        let stats = &self.stats;
        stats.sleeps.set(stats.sleeps.get() + 1);
        stats
            .asleep_ticks
            .set(stats.asleep_ticks.get() + rdtsc().wrapping_sub(before));
        true
    }
}
