//! The control channel: Click's ControlSocket protocol (version 1.3) on the second serial
//! port (COM2), which the launcher connects to a UNIX socket on the host
//! (`-serial unix:<path>,server=on,wait=off`).
//!
//! Commands are lines ending in CR, LF or CRLF; replies are lines `<code> <message>` ending in
//! CRLF, and a read's result follows as `DATA <n>` CRLF and `n` bytes:
//!
//! | command | reply |
//! |---|---|
//! | `READ handler` | `200 Read handler 'h' OK`, `DATA n`, the value |
//! | `READDATA handler n` + `n` bytes | the same (the bytes are ignored: no handler takes parameters) |
//! | `WRITE handler value...` | `200 Write handler 'h' OK` |
//! | `WRITEDATA handler n` + `n` bytes | the same, with the bytes as the value |
//! | `CHECKREAD handler`, `CHECKWRITE handler` | `200 ... OK` or an error |
//! | `QUIT` | `200 Goodbye!`; the next byte starts a new session |
//!
//! Errors: `500` syntax, `501` unimplemented command, `510` no such element, `511` no such
//! handler, `520` the handler failed (its message follows).
//!
//! Handlers are the router's (`c.count`, `fw/filter.drops`, globals `list`, `classes`,
//! `config`, `pool_free`, `pool_capacity`, `stop`, ...) plus, for each interface,
//! `eth0.rx_packets`, `eth0.tx_packets`, `eth0.rx_dropped`, `eth0.tx_ring_full`, ... (every
//! [`DeviceStats`](sluice_dataplane::DeviceStats) counter, and the driver's
//! [`VirtioNetMetrics`](sluice_drivers::virtio::VirtioNetMetrics) such as `eth0.rx_bad_id`),
//! `eth0.buffers_held` and `eth0.mac`, and the global `buffers_held` (all interfaces): after
//! the traffic stops,
//! `pool_free + buffers_held == pool_capacity` unless an element keeps packets queued.
//! `idle_mode` (`halt` or `poll`), `idle_sleeps` and `idle_sleep_us` tell how the idle loop
//! slept (see [`crate::idle`]).
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
use core::time::Duration;

use sluice_dataplane::{HandlerError, Router};

use crate::arch::rdtsc;
use crate::idle::Idle;
use crate::net::NicInfo;
use crate::serial::{Uart, COM2};

/// How often the UART is looked at when no session is active.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// Longest command line kept; longer ones are answered with a syntax error.
const MAX_LINE: usize = 4096;
/// Largest `WRITEDATA`/`READDATA` payload accepted.
const MAX_DATA: usize = 1 << 20;

const GREETING: &[u8] = b"Click::ControlSocket/1.3\r\n";

/// What [`ControlChannel::poll`] reads handlers from.
pub struct Handlers<'a> {
    pub router: &'a Router,
    pub nics: &'a [Rc<NicInfo>],
    /// The configuration text (the global `config` handler).
    pub config: &'a str,
    /// The idle loop (the globals `idle_mode`, `idle_sleeps`, `idle_sleep_us`).
    pub idle: &'a Idle,
}

enum Input {
    /// Collecting a command line.
    Line,
    /// Collecting `remaining` bytes of data for a `WRITEDATA` (write) or `READDATA` (read).
    Data {
        handler: String,
        write: bool,
        remaining: usize,
    },
}

/// The server side of the protocol on COM2.
pub struct ControlChannel {
    uart: Uart,
    line: Vec<u8>,
    data: Vec<u8>,
    input: Input,
    in_session: bool,
    /// The previous byte was a CR: an LF right after it ends nothing.
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
            line: Vec::with_capacity(128),
            data: Vec::new(),
            input: Input::Line,
            in_session: false,
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
        let mut served = false;
        while let Some(byte) = self.uart.try_read_byte() {
            self.byte(byte, handlers);
            served = true;
        }
        served
    }

    fn byte(&mut self, byte: u8, handlers: &Handlers<'_>) {
        if !self.in_session {
            if byte == b'\n' && core::mem::take(&mut self.after_cr) {
                // The LF of the CRLF that ended `QUIT`.
                return;
            }
            self.in_session = true;
            self.after_cr = false;
            self.uart.write_bytes(GREETING);
        }
        match &mut self.input {
            Input::Data { remaining, .. } => {
                self.data.push(byte);
                *remaining -= 1;
                if *remaining == 0 {
                    let Input::Data { handler, write, .. } =
                        core::mem::replace(&mut self.input, Input::Line)
                    else {
                        unreachable!("matched above")
                    };
                    let data = core::mem::take(&mut self.data);
                    let value = String::from_utf8_lossy(&data);
                    if write {
                        self.write(&handler, &value, handlers);
                    } else {
                        self.read(&handler, handlers);
                    }
                }
            }
            Input::Line => {
                let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
                match byte {
                    b'\n' if after_cr => {}
                    b'\r' | b'\n' => {
                        let line = core::mem::take(&mut self.line);
                        let text = String::from_utf8_lossy(&line);
                        self.command(text.trim(), handlers);
                        self.line = line;
                        self.line.clear();
                    }
                    _ if self.line.len() < MAX_LINE => self.line.push(byte),
                    _ => {}
                }
            }
        }
    }

    fn reply(&self, code: u16, message: &str) {
        self.uart
            .write_bytes(format!("{code} {message}\r\n").as_bytes());
    }

    fn command(&mut self, line: &str, handlers: &Handlers<'_>) {
        if line.is_empty() {
            return;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim_start();
        let (handler, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let needs_handler = !matches!(word.to_ascii_uppercase().as_str(), "QUIT");
        if needs_handler && handler.is_empty() {
            return self.reply(500, &format!("Syntax error: {word} needs a handler name"));
        }
        match word.to_ascii_uppercase().as_str() {
            "READ" => self.read(handler, handlers),
            "WRITE" => self.write(handler, args.trim(), handlers),
            "READDATA" | "WRITEDATA" => {
                let write = word.eq_ignore_ascii_case("WRITEDATA");
                match args.trim().parse::<usize>() {
                    Ok(0) if write => self.write(handler, "", handlers),
                    Ok(0) => self.read(handler, handlers),
                    Ok(n) if n <= MAX_DATA => {
                        self.data.clear();
                        self.input = Input::Data {
                            handler: handler.into(),
                            write,
                            remaining: n,
                        };
                    }
                    Ok(_) => self.reply(521, "Data too big"),
                    Err(_) => self.reply(500, &format!("Syntax error: {word} handler LENGTH")),
                }
            }
            "CHECKREAD" => self.check(handler, false, handlers),
            "CHECKWRITE" => self.check(handler, true, handlers),
            "QUIT" => {
                self.reply(200, "Goodbye!");
                self.in_session = false;
            }
            "LLRPC" | "READUNTIL" | "WRITEUNTIL" => {
                self.reply(501, &format!("Unimplemented command '{word}'"))
            }
            _ => self.reply(500, &format!("Syntax error: unknown command '{word}'")),
        }
    }

    fn read(&self, handler: &str, handlers: &Handlers<'_>) {
        match read_handler(handler, handlers) {
            Ok(value) => {
                self.reply(200, &format!("Read handler '{handler}' OK"));
                self.uart
                    .write_bytes(format!("DATA {}\r\n", value.len()).as_bytes());
                self.uart.write_bytes(value.as_bytes());
            }
            Err(e) => self.error(handler, false, &e),
        }
    }

    fn write(&self, handler: &str, value: &str, handlers: &Handlers<'_>) {
        match handlers.router.write_handler(handler, value) {
            Ok(()) => self.reply(200, &format!("Write handler '{handler}' OK")),
            Err(HandlerError::NoSuchElement(element)) if nic(&element, handlers.nics).is_some() => {
                self.reply(511, &format!("No write handler named '{handler}'"))
            }
            Err(e) => self.error(handler, true, &e),
        }
    }

    fn check(&self, handler: &str, write: bool, handlers: &Handlers<'_>) {
        let kind = if write { "Write" } else { "Read" };
        let found = match handler.rsplit_once('.') {
            // Element handlers: the element's `handlers` list says which exist and how.
            Some((element, name)) => {
                match handlers.router.read_handler(&format!("{element}.handlers")) {
                    Ok(list) => {
                        let builtin = ["name", "class", "config", "ports", "handlers"];
                        let mode = list
                            .lines()
                            .find_map(|l| l.split_once('\t').filter(|(n, _)| *n == name))
                            .map(|(_, mode)| mode)
                            .or_else(|| builtin.contains(&name).then_some("r"));
                        match mode {
                            Some(mode) if mode.contains(if write { 'w' } else { 'r' }) => Ok(()),
                            _ => Err(HandlerError::NoSuchHandler(handler.into())),
                        }
                    }
                    Err(HandlerError::NoSuchElement(e)) => match nic(&e, handlers.nics) {
                        Some(info) if !write && info.read_handler(name).is_some() => Ok(()),
                        Some(_) => Err(HandlerError::NoSuchHandler(handler.into())),
                        None => Err(HandlerError::NoSuchElement(e)),
                    },
                    Err(e) => Err(e),
                }
            }
            None if write => match handler {
                "stop" => Ok(()),
                _ => Err(HandlerError::NoSuchHandler(handler.into())),
            },
            None => read_handler(handler, handlers).map(|_| ()),
        };
        match found {
            Ok(()) => self.reply(200, &format!("{kind} handler '{handler}' OK")),
            Err(e) => self.error(handler, write, &e),
        }
    }

    fn error(&self, handler: &str, write: bool, error: &HandlerError) {
        let kind = if write { "write" } else { "read" };
        match error {
            HandlerError::NoSuchElement(element) => {
                self.reply(510, &format!("No element named '{element}'"))
            }
            HandlerError::NoSuchHandler(_) => {
                self.reply(511, &format!("No {kind} handler named '{handler}'"))
            }
            HandlerError::BadValue(message) => {
                let message = message.replace(['\r', '\n'], " ");
                self.reply(520, &message)
            }
        }
    }
}

fn nic<'a>(name: &str, nics: &'a [Rc<NicInfo>]) -> Option<&'a NicInfo> {
    nics.iter().map(|n| &**n).find(|n| n.name == name)
}

/// Reads `path` from the router, then from the interfaces and the platform's globals.
fn read_handler(path: &str, handlers: &Handlers<'_>) -> Result<String, HandlerError> {
    match handlers.router.read_handler(path) {
        Err(HandlerError::NoSuchElement(element)) => {
            let info = nic(&element, handlers.nics).ok_or(HandlerError::NoSuchElement(element))?;
            let name = path.rsplit_once('.').map_or(path, |(_, h)| h);
            info.read_handler(name)
                .ok_or_else(|| HandlerError::NoSuchHandler(path.into()))
        }
        Err(HandlerError::NoSuchHandler(h)) if !path.contains('.') => match path {
            "config" | "flatconfig" => Ok(handlers.config.into()),
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
