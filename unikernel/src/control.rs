//! The control channel: Click's ControlSocket protocol (version 1.3) on the second serial
//! port (COM2), which the launcher connects to a UNIX socket on the host
//! (`-serial unix:<path>,server=on,wait=off`).
//!
//! The protocol itself (commands, replies, codes) is
//! [`sluice_dataplane::control`], shared with `sluice run --ctl` and the `ControlSocket`
//! element on the host; this module carries it over the serial line and adds the
//! platform's handlers.
//!
//! Handlers are the router's (`c.count`, `fw/filter.drops`, globals `list`, `config`,
//! `pool_free`, `pool_capacity`, `stop`, ...), the global `classes` (the element classes
//! the image carries, one a line: what a new configuration may use) and the write-only
//! `hotconfig` (see below), plus, for each interface,
//! `eth0.rx_packets`, `eth0.tx_packets`, `eth0.rx_dropped`, `eth0.tx_ring_full`, ... (every
//! [`DeviceStats`](sluice_dataplane::DeviceStats) counter, and the driver's
//! [`VirtioNetMetrics`](sluice_drivers::virtio::VirtioNetMetrics) such as `eth0.rx_bad_id`),
//! `eth0.buffers_held` and `eth0.mac`, and the global `buffers_held` (all interfaces): after
//! the traffic stops,
//! `pool_free + buffers_held == pool_capacity` unless an element keeps packets queued.
//! `idle_mode` (`halt` or `poll`), `idle_sleeps` and `idle_sleep_us` tell how the idle loop
//! slept (see [`crate::idle`]). `hotconfig_us` is how long the last successful `hotconfig`
//! took in the guest, from decoding the configuration to the new router in place (empty
//! before the first).
//!
//! **`hotconfig`.** A `WRITEDATA hotconfig N` whose bytes are a
//! [`PreparedConfig`](sluice_dataplane::prepared::PreparedConfig) (what
//! `sluice ctl VM hotconfig FILE` sends) replaces the configuration between two slices
//! ([`Router::hotswap_prepared`]): the NICs stay bound, elements of the same name keep
//! their state, frames that arrive meanwhile wait in the receive rings. If the bytes do not
//! decode or the configuration does not start, the running one goes on and the reply is
//! a `520` with the reason. The guest parses no Click text, so text written to `hotconfig`
//! is refused.
//!
//! **Where sluice differs from Click.** A serial line cannot tell the guest that a client
//! connected, so the greeting `Click::ControlSocket/1.3` is sent when the first byte of a
//! session arrives (at boot, or after `QUIT`), just before the reply to the first command.
//! `sluice ctl` expects exactly that; a client that waits for the greeting before speaking
//! must send an empty line first.
//!
//! Cost to the data path: the main loop calls [`ControlChannel::poll`] every round; it
//! returns after one TSC read unless [`POLL_INTERVAL`] has passed since the last look at the
//! UART (one port read), or a session is in progress.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;

use sluice_dataplane::control::{self, Hotconfig, Mode, Session, HOTCONFIG};
use sluice_dataplane::{ElementClass, HandlerError, Router};

use crate::arch::rdtsc;
use crate::idle::Idle;
use crate::net::NicInfo;
use crate::serial::{Uart, COM2};

/// How often the UART is looked at when no session is active.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// What [`ControlChannel::poll`] reads handlers from.
pub struct Handlers<'a> {
    /// Mutable for `hotconfig`, which replaces it.
    pub router: RefCell<&'a mut Router>,
    pub nics: &'a [Rc<NicInfo>],
    /// The element classes of the image (the global `classes`).
    pub classes: &'a [&'static ElementClass],
    /// Installs what is written to `hotconfig`.
    pub hotconfig: &'a dyn Hotconfig,
    /// The idle loop (the globals `idle_mode`, `idle_sleeps`, `idle_sleep_us`).
    pub idle: &'a Idle,
    /// How long the last successful `hotconfig` took in the guest (the global
    /// `hotconfig_us`).
    pub last_hotconfig: &'a core::cell::Cell<Option<Duration>>,
}

impl<'a> Handlers<'a> {
    fn router(&self) -> Result<core::cell::Ref<'_, &'a mut Router>, HandlerError> {
        self.router
            .try_borrow()
            .map_err(|_| HandlerError::BadValue("the router is being reconfigured".into()))
    }
}

/// The server side of the protocol on COM2.
pub struct ControlChannel {
    uart: Uart,
    /// The session in progress, if one is.
    session: Option<Session>,
    /// The last byte before the session ended was a CR: an LF right after it ends nothing.
    after_cr: bool,
    next_poll: u64,
    interval_ticks: u64,
}

impl ControlChannel {
    /// Programs COM2. `tsc_khz` converts [`POLL_INTERVAL`] to TSC ticks.
    pub fn new(tsc_khz: u64) -> Self {
        let uart = Uart::new(COM2);
        uart.init();
        // Its line wakes a sleeping CPU (see `idle`); unrouted, it is masked.
        uart.enable_receive_interrupt();
        let interval_ticks = tsc_khz.max(1) * POLL_INTERVAL.as_micros() as u64 / 1000;
        Self {
            uart,
            session: None,
            after_cr: false,
            next_poll: 0,
            interval_ticks,
        }
    }

    /// Whether bytes wait in the UART (then the CPU must not sleep).
    pub fn has_input(&self) -> bool {
        self.uart.has_input()
    }

    /// Makes the next [`poll`](Self::poll) look at the UART whatever the interval: the CPU
    /// woke up, perhaps for input.
    pub fn look_now(&mut self) {
        self.next_poll = 0;
    }

    /// Serves whatever arrived on the channel. Cheap when nothing did (see the module docs).
    /// Returns whether any byte arrived: a handler call may have given the router work.
    #[inline]
    pub fn poll(&mut self, handlers: &Handlers<'_>) -> bool {
        let now = rdtsc();
        if now < self.next_poll {
            return false;
        }
        self.next_poll = now + self.interval_ticks;
        let Some(first) = self.uart.try_read_byte() else {
            return false;
        };
        let mut bytes = Vec::with_capacity(64);
        bytes.push(first);
        while let Some(byte) = self.uart.try_read_byte() {
            bytes.push(byte);
        }
        self.serve(bytes, handlers);
        true
    }

    /// Runs `bytes` through the sessions they belong to: a session starts (with the
    /// greeting) at its first byte and ends at `QUIT`; what follows starts the next one.
    fn serve(&mut self, mut bytes: Vec<u8>, handlers: &Handlers<'_>) {
        while !bytes.is_empty() {
            let session = match &mut self.session {
                Some(s) => s,
                None => {
                    if core::mem::take(&mut self.after_cr) && bytes[0] == b'\n' {
                        // The LF of the CRLF that ended `QUIT`.
                        bytes.remove(0);
                        continue;
                    }
                    let mut s = Session::new(false);
                    s.greet();
                    self.session.insert(s)
                }
            };
            let last = bytes.last().copied();
            session.feed(&bytes);
            session.process(handlers, false);
            self.uart.write_bytes(session.output());
            session.output().clear();
            if !session.is_closed() {
                return;
            }
            bytes = session.take_unread();
            self.after_cr = bytes.is_empty() && last == Some(b'\r');
            self.session = None;
        }
    }
}

impl control::Handlers for Handlers<'_> {
    fn read(&self, name: &str, params: &str) -> Result<String, HandlerError> {
        if params.trim().is_empty() {
            read_handler(name, self)
        } else {
            self.router()?.read_handler_with(name, params)
        }
    }

    fn write(&self, name: &str, value: &str) -> Result<(), HandlerError> {
        if name == HOTCONFIG {
            return self.write_data(name, value.as_bytes());
        }
        match self.router()?.write_handler(name, value) {
            // The interfaces' handlers are all read-only.
            Err(HandlerError::NoSuchElement(element)) if nic(&element, self.nics).is_some() => {
                Err(HandlerError::NoSuchHandler(name.into()))
            }
            r => r,
        }
    }

    fn write_data(&self, name: &str, data: &[u8]) -> Result<(), HandlerError> {
        if name != HOTCONFIG {
            return self.write(name, &String::from_utf8_lossy(data));
        }
        let mut router = self
            .router
            .try_borrow_mut()
            .map_err(|_| HandlerError::BadValue("the router is being reconfigured".into()))?;
        self.hotconfig
            .hotconfig_data(&mut router, data)
            .map_err(HandlerError::BadValue)
    }

    fn mode(&self, name: &str) -> Result<Option<Mode>, HandlerError> {
        if name == HOTCONFIG {
            return Ok(Some(Mode {
                read: false,
                write: true,
            }));
        }
        let router = self.router()?;
        match control::router_mode(&router, name) {
            Err(HandlerError::NoSuchElement(element)) => {
                let info = nic(&element, self.nics).ok_or(HandlerError::NoSuchElement(element))?;
                let handler = name.rsplit_once('.').map_or(name, |(_, h)| h);
                Ok(info.read_handler(handler).map(|_| Mode {
                    read: true,
                    write: false,
                }))
            }
            Ok(None) if !name.contains('.') => Ok(read_handler(name, self).ok().map(|_| Mode {
                read: true,
                write: false,
            })),
            other => other,
        }
    }
}

fn nic<'a>(name: &str, nics: &'a [Rc<NicInfo>]) -> Option<&'a NicInfo> {
    nics.iter().map(|n| &**n).find(|n| n.name == name)
}

/// Reads `path` from the router, then from the interfaces and the platform's globals.
fn read_handler(path: &str, handlers: &Handlers<'_>) -> Result<String, HandlerError> {
    if path == "classes" {
        let mut names = sluice_dataplane::sluice_config::heap_sorted(
            handlers.classes.iter().map(|c| c.name).collect(),
        );
        names.dedup();
        return Ok(names.iter().map(|n| format!("{n}\n")).collect());
    }
    let router = handlers.router()?;
    match router.read_handler(path) {
        Err(HandlerError::NoSuchElement(element)) => {
            let info = nic(&element, handlers.nics).ok_or(HandlerError::NoSuchElement(element))?;
            let name = path.rsplit_once('.').map_or(path, |(_, h)| h);
            info.read_handler(name)
                .ok_or_else(|| HandlerError::NoSuchHandler(path.into()))
        }
        Err(HandlerError::NoSuchHandler(h)) if !path.contains('.') => match path {
            "flatconfig" => router.read_handler("config"),
            "buffers_held" => Ok(format!(
                "{}",
                handlers
                    .nics
                    .iter()
                    .map(|n| n.buffers_held())
                    .sum::<usize>()
            )),
            "idle_mode" => Ok(handlers.idle.mode().into()),
            "idle_sleeps" => Ok(format!("{}", handlers.idle.stats.sleeps.get())),
            "idle_sleep_us" => Ok(format!("{}", handlers.idle.stats.asleep().as_micros())),
            "hotconfig_us" => Ok(handlers
                .last_hotconfig
                .get()
                .map_or_else(String::new, |d| format!("{}", d.as_micros()))),
            "nics" => Ok(handlers
                .nics
                .iter()
                .map(|n| format!("{} {}\n", n.name, n.read_handler("mac").unwrap_or_default()))
                .collect()),
            _ => Err(HandlerError::NoSuchHandler(h)),
        },
        other => other,
    }
}
