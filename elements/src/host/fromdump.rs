//! `FromDump(FILENAME [, TIMING, KEYWORDS])` — reads packets from a tcpdump file.
//!
//! **Ports:** `0/1-2`: no inputs, one or two outputs.
//!
//! **Processing:** `a/ah`: output 0 agnostic, output 1 push.
//!
//! Reads packets from a capture file written by `tcpdump -w`, Wireshark or `ToDump`, and
//! emits them on output 0 with their capture time in the timestamp annotation. Classic pcap
//! (microsecond or nanosecond timestamps, either byte order, the "modified pcap" variant)
//! and pcapng (several interfaces, any `if_tsresol`/`if_tsoffset`) are both read.
//!
//! With a push output, FromDump runs as a task, a batch of packets per turn; with a pull
//! output it answers pulls.
//!
//! A damaged file (cut short, impossible lengths) ends the dump with a message on the
//! console naming the byte offset; packets before the damage are emitted.
//!
//! A record captured short of its wire length (snap length) gives a packet of the captured
//! bytes whose extra length annotation holds the rest, as in Click: `ToDump` writes the
//! original wire length back and `Pad` restores the missing bytes as zeros.
//!
//! **Keywords:**
//!
//! - `STOP` (boolean): ask the router to stop at the end of the file (or when `END` is
//!   reached). Default false.
//! - `TIMING` (boolean, also the second positional argument): keep the original spacing
//!   between packets. The first packet is emitted at once. Default false.
//! - `ACTIVE` (boolean): when false, emit nothing until the `active` handler is set true.
//!   Default true.
//! - `SAMPLE` (real between 0 and 1): emit each packet with this probability. Fixed-point
//!   with 28 fractional bits, as in Click; `sampling_prob` shows the value in effect.
//!   Values above 1 mean 1.
//! - `FORCE_IP` (boolean): emit only IP packets, with their network header annotation set
//!   (and the destination-IP annotation for IPv4). Non-IP packets go out output 1 if it is
//!   connected, else they are dropped (`non_ip` counts them). Raw-IP captures always
//!   behave as if `FORCE_IP` were true. Link types understood: Ethernet, raw IP (IPv4 and
//!   IPv6), FDDI with SNAP, ATM RFC 1483, and Linux cooked captures.
//! - `START` (seconds since the epoch, with fraction) / `START_AFTER` (duration from the
//!   first packet): skip packets before that time. At most one of the two.
//! - `END` (seconds since the epoch) / `END_AFTER` (duration from the first packet) /
//!   `INTERVAL` (duration from the start time): stop at the first packet at or after that
//!   time. At most one of the three.
//! - `BURST` (integer ≥ 1): packets emitted per task run. Default 1, as Click emits one
//!   packet per run: each packet then travels the whole graph before the next is read, so
//!   packets whose paths meet in a stateful element (a rewriter fed by two inputs) reach it
//!   in capture order. Larger bursts move batches through the graph for speed (up to 32
//!   per batch), at the price of that ordering across different paths.
//!
//! **Handlers:** `count` (packets emitted), `reset_counts` (write), `active` (read/write),
//! `sampling_prob`, `encap` (`ETHER`, `IP`, ...), `filename`, `filesize`, `filepos`
//! (bytes read so far), `packet_filepos` (offset of the last packet's record), `stop`
//! (write: deactivate and stop the router), and the drop counters `drops` (all),
//! `too_big` (longer than a packet buffer), `no_buffer` (pool empty), `non_ip` (dropped
//! by `FORCE_IP` without output 1) and `errors` (damaged file).
//!
//! **Hot reconfiguration:** a `FromDump` that replaces one of the same name reading the
//! same file through `hotconfig` goes on from the next packet that one would have sent,
//! with its counts and timing, as Click's does (the new keywords, such as `ACTIVE` and
//! `STOP`, apply); one reading another file starts at its beginning.
//!
//! **Example:**
//!
//! ```text
//! FromDump(trace.pcap, STOP true) -> c :: Counter -> Discard;
//! FromDump(trace.pcapng, TIMING true, FORCE_IP true) -> ToDump(out.pcap);
//! ```
//!
//! **Differences from Click:** compressed files are not decompressed (decompress first);
//! `END_CALL`, `FILEPOS`, `MMAP`, `extend_interval` and `reset_timing` are not supported;
//! reaching `END` without `STOP` ends the element's work (Click deactivates it); a packet
//! longer than 65,407 bytes (the large buffer class) is dropped and counted in `too_big`.

use std::boxed::Box;
use std::string::{String, ToString};

use sluice_config::args::{Args, FromArg, NameLookup};
use sluice_dataplane::{
    ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError, InitContext,
    Packet, TaskStatus, BATCH_MAX,
};

use super::pcap::{linktype, DumpReader, Record};

/// The element class.
#[allow(non_upper_case_globals)]
pub static FromDump: ElementClass = ElementClass {
    name: "FromDump",
    ports: "0/1-2",
    processing: "a/ah",
    make,
    names: None,
};

/// Fractional bits of the sampling probability.
const SAMPLING_SHIFT: u32 = 28;
const SAMPLING_ONE: u32 = 1 << SAMPLING_SHIFT;

/// Seconds since the epoch with a fraction (`1700000000.25`), as nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct EpochTime(u64);

impl FromArg for EpochTime {
    const EXPECTED: &'static str = "a time in seconds since the epoch";
    fn from_arg(text: &str, _: Option<&dyn NameLookup>) -> Result<Self, String> {
        parse_decimal(text, 9)
            .map(|v| EpochTime(v as u64))
            .ok_or_else(|| format!("'{text}' is not {}", Self::EXPECTED))
    }
}

/// A probability, fixed point with [`SAMPLING_SHIFT`] fractional bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Probability(u32);

impl FromArg for Probability {
    const EXPECTED: &'static str = "a real number between 0 and 1";
    fn from_arg(text: &str, _: Option<&dyn NameLookup>) -> Result<Self, String> {
        // Parse with enough decimals that rounding to 28 bits is exact enough.
        let v =
            parse_decimal(text, 12).ok_or_else(|| format!("'{text}' is not {}", Self::EXPECTED))?;
        let scaled = (v * u128::from(SAMPLING_ONE) + 500_000_000_000) / 1_000_000_000_000;
        Ok(Probability(scaled.min(u128::from(SAMPLING_ONE)) as u32))
    }
}

/// Parses an unsigned decimal `123.456` into an integer with `places` decimal places.
fn parse_decimal(text: &str, places: u32) -> Option<u128> {
    let (int, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 20
    {
        return None;
    }
    let mut v: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    v = v.checked_mul(10u128.pow(places))?;
    let mut place = 10u128.pow(places);
    for d in frac.bytes() {
        place /= 10;
        v += u128::from(d - b'0') * place;
    }
    Some(v)
}

/// Renders a fixed-point probability as Click does (shortest exact-enough decimal).
fn unparse_probability(p: u32) -> String {
    if p >= SAMPLING_ONE {
        return "1".into();
    }
    let v = f64::from(p) / f64::from(SAMPLING_ONE);
    let mut s = format!("{v:.9}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    s
}

#[derive(Clone, Copy, Debug, Default)]
enum StartBound {
    #[default]
    None,
    At(u64),
    After(u64),
}

#[derive(Clone, Copy, Debug, Default)]
enum EndBound {
    #[default]
    None,
    At(u64),
    After(u64),
    Interval(u64),
}

#[derive(Debug, Default)]
struct Drops {
    too_big: u64,
    no_buffer: u64,
    non_ip: u64,
    errors: u64,
}

/// The element.
struct Dump {
    filename: String,
    burst: usize,
    timing: bool,
    stop: bool,
    active: bool,
    force_ip: bool,
    sample: u32,
    start: StartBound,
    end: EndBound,
    reader: Option<DumpReader>,
    filesize: Option<u64>,
    linktype: Option<u32>,
    /// Times resolved against the first packet's timestamp.
    start_ns: Option<u64>,
    end_ns: Option<u64>,
    times_ready: bool,
    /// Wall time minus capture time of the first packet (TIMING).
    timing_offset: i128,
    /// A packet read but not yet due (TIMING) or not yet sent.
    held: Option<Packet>,
    /// A record header whose data could not be read for want of a buffer.
    pending: Option<Record>,
    finished: bool,
    stop_requested: bool,
    count: u64,
    drops: Drops,
    packet_filepos: u64,
    rng: u64,
}

fn make(args: &mut Args<'_>, _cx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let filename: Option<String> = args.read_mp("FILENAME");
    let timing: bool = args.read_p("TIMING").unwrap_or(false);
    let stop: bool = args.read_k("STOP").unwrap_or(false);
    let active: bool = args.read_k("ACTIVE").unwrap_or(true);
    let sample = args
        .read_k::<Probability>("SAMPLE")
        .map_or(SAMPLING_ONE, |p| p.0);
    let force_ip: bool = args.read_k("FORCE_IP").unwrap_or(false);
    let burst: u32 = args.read_k("BURST").unwrap_or(1);
    if burst == 0 {
        args.error_whole("BURST must be at least 1");
    }
    let start_at = args.read_k::<EpochTime>("START");
    let start_after = args.read_k::<core::time::Duration>("START_AFTER");
    let end_at = args.read_k::<EpochTime>("END");
    let end_after = args.read_k::<core::time::Duration>("END_AFTER");
    let interval = args.read_k::<core::time::Duration>("INTERVAL");
    let ns = |d: core::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let start = match (start_at, start_after) {
        (Some(_), Some(_)) => {
            args.error_whole("START and START_AFTER are mutually exclusive");
            return None;
        }
        (Some(t), None) => StartBound::At(t.0),
        (None, Some(d)) => StartBound::After(ns(d)),
        (None, None) => StartBound::None,
    };
    let end = match (end_at, end_after, interval) {
        (Some(t), None, None) => EndBound::At(t.0),
        (None, Some(d), None) => EndBound::After(ns(d)),
        (None, None, Some(d)) => EndBound::Interval(ns(d)),
        (None, None, None) => EndBound::None,
        _ => {
            args.error_whole("END, END_AFTER and INTERVAL are mutually exclusive");
            return None;
        }
    };
    Some(Box::new(Dump {
        filename: filename?,
        burst: burst.max(1) as usize,
        timing,
        stop,
        active,
        force_ip,
        sample,
        start,
        end,
        reader: None,
        filesize: None,
        linktype: None,
        start_ns: None,
        end_ns: None,
        times_ready: false,
        timing_offset: 0,
        held: None,
        pending: None,
        finished: false,
        stop_requested: false,
        count: 0,
        drops: Drops::default(),
        packet_filepos: 0,
        rng: 0x9e37_79b9_7f4a_7c15,
    }))
}

/// What reading the next record gave.
enum Next {
    Packet(Packet),
    /// Not IP, under FORCE_IP, with output 1 connected: goes out there.
    NonIp(Packet),
    /// Filtered out (sampling, before START) or dropped (counted); read on.
    Skipped,
    /// No buffer now; try again later.
    NoBuffer,
    /// End of the dump (file end, END time, or damage).
    End,
}

/// Whether `lt` is a link type FORCE_IP can find the IP header in.
fn force_ipable(lt: u32) -> bool {
    matches!(
        linktype::canonical(lt),
        linktype::ETHER
            | linktype::RAW
            | linktype::FDDI
            | linktype::ATM_RFC1483
            | linktype::LINUX_SLL
    )
}

/// Offset of the IP header in a frame of link type `lt`, if it carries IPv4 or IPv6.
fn ip_offset(data: &[u8], lt: u32) -> Option<usize> {
    let is_ip_type = |hi: u8, lo: u8| matches!(u16::from_be_bytes([hi, lo]), 0x0800 | 0x86dd);
    match linktype::canonical(lt) {
        linktype::RAW => Some(0),
        linktype::ETHER => (data.len() >= 14 && is_ip_type(data[12], data[13])).then_some(14),
        linktype::LINUX_SLL => (data.len() >= 16 && is_ip_type(data[14], data[15])).then_some(16),
        linktype::FDDI => {
            // Frame control (1), addresses (12), then LLC/SNAP (8).
            const SNAP: [u8; 6] = [0xaa, 0xaa, 0x03, 0, 0, 0];
            (data.len() >= 21
                && data[0] & 0xf8 == 0x50
                && data[13..19] == SNAP
                && is_ip_type(data[19], data[20]))
            .then_some(21)
        }
        linktype::ATM_RFC1483 => {
            const SNAP: [u8; 6] = [0xaa, 0xaa, 0x03, 0, 0, 0];
            (data.len() >= 8 && data[0..6] == SNAP && is_ip_type(data[6], data[7])).then_some(8)
        }
        _ => None,
    }
}

/// Marks the IP header of `p` (and its transport header and destination annotation), as
/// Click's FORCE_IP does; false when `p` is not a plausible IP packet.
fn mark_ip(p: &mut Packet, lt: u32) -> bool {
    let Some(off) = ip_offset(p.data(), lt) else {
        return false;
    };
    let ip = &p.data()[off..];
    match ip.first().map(|b| b >> 4) {
        Some(4) => {
            let hl = usize::from(ip[0] & 0x0f) * 4;
            if hl < 20 || ip.len() < hl {
                return false;
            }
            let dst = [ip[16], ip[17], ip[18], ip[19]];
            p.set_network_offset(off);
            p.set_transport_offset(off + hl);
            p.anno_mut().dst_ip = dst;
            true
        }
        Some(6) if ip.len() >= 40 => {
            p.set_network_offset(off);
            p.set_transport_offset(off + 40);
            true
        }
        _ => false,
    }
}

impl Dump {
    fn random(&mut self) -> u32 {
        // xorshift64*: sampling needs speed and spread, not cryptographic strength.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    }

    fn fail(&mut self, ctx: &Context<'_>, msg: &str) -> Next {
        self.drops.errors += 1;
        ctx.log(&format!(
            "{}: {}: {msg}; stopping",
            ctx.name(),
            self.filename
        ));
        Next::End
    }

    fn prepare_times(&mut self, first_ts: u64, now: u64) {
        let start = match self.start {
            StartBound::None => None,
            StartBound::At(t) => Some(t),
            StartBound::After(d) => Some(first_ts.saturating_add(d)),
        };
        self.start_ns = start;
        self.end_ns = match self.end {
            EndBound::None => None,
            EndBound::At(t) => Some(t),
            EndBound::After(d) => Some(first_ts.saturating_add(d)),
            EndBound::Interval(d) => Some(start.unwrap_or(first_ts).saturating_add(d)),
        };
        self.timing_offset = i128::from(now) - i128::from(first_ts);
        self.times_ready = true;
    }

    /// Reads the next record into a packet (no allocation: the data goes straight into a
    /// pool buffer).
    fn read_next(&mut self, ctx: &Context<'_>) -> Next {
        let Some(reader) = self.reader.as_mut() else {
            return Next::End;
        };
        let rec = match self.pending.take() {
            Some(r) => r,
            None => match reader.next_record() {
                Ok(Some(r)) => r,
                Ok(None) => return Next::End,
                Err(m) => return self.fail(ctx, &m),
            },
        };
        self.packet_filepos = rec.filepos;
        if !self.times_ready {
            self.prepare_times(rec.timestamp_ns, ctx.now());
        }
        if let Some(s) = self.start_ns {
            if rec.timestamp_ns < s {
                return Next::Skipped;
            }
            // Once a packet passes, the start is behind us (as in Click).
            self.start_ns = None;
        }
        if self.end_ns.is_some_and(|e| rec.timestamp_ns >= e) {
            return Next::End;
        }
        if self.sample < SAMPLING_ONE && (self.random() & (SAMPLING_ONE - 1)) >= self.sample {
            return Next::Skipped;
        }
        let pool = ctx.pool();
        if rec.caplen as usize > pool.max_len() {
            self.drops.too_big += 1;
            return Next::Skipped;
        }
        let Some(mut p) = pool.alloc(rec.caplen as usize) else {
            self.drops.no_buffer += 1;
            self.pending = Some(rec);
            return Next::NoBuffer;
        };
        let Some(reader) = self.reader.as_mut() else {
            return Next::End;
        };
        if let Err(m) = reader.read_data(p.data_mut()) {
            return self.fail(ctx, &m);
        }
        let anno = p.anno_mut();
        anno.timestamp_ns = rec.timestamp_ns;
        // What the snap length cut off, as Click's FromDump keeps it.
        anno.extra_length = rec.len.saturating_sub(rec.caplen);
        let lt = rec.linktype;
        if (self.force_ip || linktype::canonical(lt) == linktype::RAW) && !mark_ip(&mut p, lt) {
            if ctx.noutputs() > 1 {
                return Next::NonIp(p);
            }
            self.drops.non_ip += 1;
            return Next::Skipped;
        }
        Next::Packet(p)
    }

    /// Under TIMING, when `p` is due, if that is after `now`.
    fn wait_until(&self, p: &Packet, now: u64) -> Option<u64> {
        if !self.timing {
            return None;
        }
        super::timing_wait(p.anno().timestamp_ns, self.timing_offset, now)
    }

    fn end_reached(&mut self, ctx: &mut Context<'_>) {
        self.finished = true;
        self.reader = None;
        if self.stop && !self.stop_requested {
            self.stop_requested = true;
            ctx.request_stop();
        }
    }

    /// Produces up to `max` packets on output 0 through `emit`; returns whether any record
    /// was consumed.
    fn produce(
        &mut self,
        ctx: &mut Context<'_>,
        max: usize,
        mut emit: impl FnMut(&mut Context<'_>, Packet),
    ) -> bool {
        let mut progressed = false;
        let mut sent = 0;
        // Bound the records looked at per call, so a file of filtered records cannot
        // monopolise the scheduler.
        let mut budget = 4 * BATCH_MAX;
        while sent < max && budget > 0 && !self.finished && self.active {
            budget -= 1;
            let p = match self.held.take() {
                Some(p) => p,
                None => match self.read_next(ctx) {
                    Next::Packet(p) => p,
                    Next::NonIp(p) => {
                        // Not counted as emitted, as in Click.
                        progressed = true;
                        ctx.output(1, p);
                        continue;
                    }
                    Next::Skipped => {
                        progressed = true;
                        continue;
                    }
                    Next::NoBuffer => break,
                    Next::End => {
                        self.end_reached(ctx);
                        break;
                    }
                },
            };
            if let Some(due) = self.wait_until(&p, ctx.now()) {
                // Idle until it is due (the scheduler may sleep or, in simulated time,
                // jump there).
                ctx.wake_at(due);
                self.held = Some(p);
                break;
            }
            progressed = true;
            self.count += 1;
            sent += 1;
            emit(ctx, p);
        }
        progressed
    }
}

const HANDLERS: &[Handler] = &[
    Handler::read("count"),
    Handler::write("reset_counts"),
    Handler::read_write("active"),
    Handler::read("sampling_prob"),
    Handler::read("encap"),
    Handler::read("filename"),
    Handler::read("filesize"),
    Handler::read("filepos"),
    Handler::read("packet_filepos"),
    Handler::write("stop"),
    Handler::read("drops"),
    Handler::read("too_big"),
    Handler::read("no_buffer"),
    Handler::read("non_ip"),
    Handler::read("errors"),
];

impl Dump {
    /// Whether this one goes on reading `old`'s file after a `hotconfig`: the same file,
    /// and `old` has it open.
    fn continues(&self, old: &Dump) -> bool {
        old.filename == self.filename && old.reader.is_some()
    }
}

impl Element for Dump {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        if !ctx.output_is_pull(0) {
            ctx.add_task();
        }
        self.rng ^= ctx.now() | 1;
        // Replacing a FromDump reading the same file (a `hotconfig`): it goes on from
        // where that one is, in `take_state`.
        let same = ctx.replacing().is_some_and(|old| {
            old.downcast_ref::<Dump>()
                .is_some_and(|o| self.continues(o))
        });
        if same {
            return Ok(());
        }
        let reader = DumpReader::open(&self.filename)?;
        self.filesize = std::fs::metadata(&self.filename).ok().map(|m| m.len());
        self.linktype = reader.linktype();
        if self.force_ip {
            if let Some(lt) = self.linktype.filter(|lt| !force_ipable(*lt)) {
                return Err(format!(
                    "{}: link type {lt} ({}); FORCE_IP cannot find IP headers in it",
                    self.filename,
                    linktype::name(lt)
                ));
            }
        }
        self.reader = Some(reader);
        Ok(())
    }

    fn take_state(&mut self, old: &mut dyn Element, _: &mut Vec<String>) {
        let Some(old) = old.downcast_mut::<Dump>() else {
            return;
        };
        if self.reader.is_some() || !self.continues(old) {
            return;
        }
        self.reader = old.reader.take();
        self.filesize = old.filesize;
        self.linktype = old.linktype;
        self.start_ns = old.start_ns;
        self.end_ns = old.end_ns;
        self.times_ready = old.times_ready;
        self.timing_offset = old.timing_offset;
        self.held = old.held.take();
        self.pending = old.pending.take();
        self.finished = old.finished;
        self.count = old.count;
        self.drops = core::mem::take(&mut old.drops);
        self.packet_filepos = old.packet_filepos;
    }

    fn push(&mut self, _ctx: &mut Context<'_>, _port: usize, _batch: sluice_dataplane::Batch) {}

    fn run_task(&mut self, ctx: &mut Context<'_>) -> TaskStatus {
        if self.finished {
            return TaskStatus::Done;
        }
        if !self.active {
            return TaskStatus::Idle;
        }
        let burst = self.burst;
        let progressed = self.produce(ctx, burst, |ctx, p| ctx.output(0, p));
        if self.finished {
            TaskStatus::Done
        } else if progressed {
            TaskStatus::Busy
        } else {
            TaskStatus::Idle
        }
    }

    fn pull(
        &mut self,
        ctx: &mut Context<'_>,
        port: usize,
        max: usize,
    ) -> Option<sluice_dataplane::Batch> {
        if port != 0 || self.finished || !self.active {
            return None;
        }
        let mut batch = sluice_dataplane::Batch::new();
        self.produce(ctx, max.min(BATCH_MAX), |_, p| batch.push(p));
        (!batch.is_empty()).then_some(batch)
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        let d = &self.drops;
        Some(match name {
            "count" => self.count.to_string(),
            "active" => self.active.to_string(),
            "sampling_prob" => unparse_probability(self.sample),
            "encap" => self.linktype.map_or("??", linktype::name).into(),
            "filename" => self.filename.clone(),
            "filesize" => self.filesize.map_or_else(|| "-".into(), |s| s.to_string()),
            "filepos" => self
                .reader
                .as_ref()
                .map_or(self.filesize.unwrap_or(0), |r| r.filepos())
                .to_string(),
            "packet_filepos" => self.packet_filepos.to_string(),
            "drops" => (d.too_big + d.no_buffer + d.non_ip + d.errors).to_string(),
            "too_big" => d.too_big.to_string(),
            "no_buffer" => d.no_buffer.to_string(),
            "non_ip" => d.non_ip.to_string(),
            "errors" => d.errors.to_string(),
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
            "active" => {
                self.active = bool::from_arg(value.trim(), None).map_err(HandlerError::BadValue)?;
                Ok(())
            }
            "reset_counts" => {
                self.count = 0;
                self.drops = Drops::default();
                Ok(())
            }
            "stop" => {
                self.active = false;
                ctx.request_stop();
                Ok(())
            }
            _ => Err(HandlerError::NoSuchHandler(name.into())),
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }

    fn cleanup(&mut self, _ctx: &mut Context<'_>) {
        self.held = None;
        self.reader = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use std::vec::Vec;
    use std::{format, vec};

    const T0: u64 = 1_700_000_000;

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        arg(&p)
    }

    fn run_one(config: &str) -> (Vec<Out>, sluice_dataplane::Router) {
        let g = graph(
            &[("fd", "FromDump", config), ("s", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        (take_collected(), r)
    }

    #[test]
    fn hotconfig_goes_on_from_the_next_packet_of_the_same_file() {
        let dir = tempdir();
        let frames: Vec<Vec<u8>> = (0..4u8).map(|i| udp_frame([10, 0, 0, i], b"x")).collect();
        let records: Vec<(u32, u32, &[u8])> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| (T0 as u32 + i as u32, 0, &f[..]))
            .collect();
        let path = write(&dir, "in.pcap", &pcap_file(false, false, 1, &records));
        let g = |config: &str| {
            graph(
                &[("fd", "FromDump", config), ("s", "Collect", "")],
                &[(0, 0, 1, 0)],
            )
        };
        let (mut r, b) = router(&g(&format!("{path}, TIMING true")), 0).unwrap();
        r.run_slice();
        assert_eq!(take_collected().len(), 1, "the first packet is due at once");
        crate::testutil::hotswap(&mut r, &g(&format!("{path}, TIMING true, STOP true"))).unwrap();
        assert_eq!(r.read_handler("fd.count").unwrap(), "1");
        b.clock.set(1_500_000_000);
        r.run_slice();
        let second = take_collected();
        assert_eq!(second.len(), 1, "one more second, one more packet");
        assert_eq!(second[0].data, frames[1]);
        b.clock.set(10_000_000_000);
        r.run(|_| true);
        let rest: Vec<Vec<u8>> = take_collected().into_iter().map(|o| o.data).collect();
        assert_eq!(rest, frames[2..]);
        assert!(r.is_stopped(), "the new STOP applies");
        assert_eq!(r.read_handler("fd.count").unwrap(), "4");
    }

    #[test]
    fn emits_packets_with_capture_timestamps_and_stops() {
        let dir = tempdir();
        let a = udp_frame([10, 0, 0, 2], b"one");
        let b = arp_frame();
        for (big, nano) in [(false, false), (true, false), (false, true), (true, true)] {
            let f = pcap_file(
                big,
                nano,
                1,
                &[(T0 as u32, 250, &a), (T0 as u32 + 1, 0, &b)],
            );
            let path = write(&dir, "in.pcap", &f);
            let (seen, r) = run_one(&format!("{path}, STOP true"));
            assert!(r.is_stopped(), "STOP true stops the router");
            assert_eq!(seen.len(), 2);
            assert_eq!(seen[0].data, a);
            assert_eq!(seen[1].data, b);
            let frac = if nano { 250 } else { 250_000 };
            assert_eq!(seen[0].anno.timestamp_ns, T0 * 1_000_000_000 + frac);
            assert_eq!(
                seen[0].network_offset, None,
                "no header annotation without FORCE_IP"
            );
            assert_eq!(r.read_handler("fd.count").unwrap(), "2");
            assert_eq!(r.read_handler("fd.encap").unwrap(), "ETHER");
            assert_eq!(r.read_handler("fd.filesize").unwrap(), f.len().to_string());
            assert_eq!(r.read_handler("fd.filepos").unwrap(), f.len().to_string());
        }
    }

    #[test]
    fn without_stop_the_router_is_not_stopped() {
        let dir = tempdir();
        let path = write(
            &dir,
            "in.pcap",
            &pcap_file(false, false, 1, &[(1, 0, &arp_frame())]),
        );
        let (seen, r) = run_one(&path);
        assert_eq!(seen.len(), 1);
        assert!(!r.is_stopped());
    }

    #[test]
    fn force_ip_marks_headers_and_diverts_non_ip() {
        let dir = tempdir();
        let ip = udp_frame([192, 0, 2, 7], b"x");
        let f = pcap_file(
            false,
            false,
            1,
            &[(1, 0, &ip), (2, 0, &arp_frame()), (3, 0, &ip)],
        );
        let path = write(&dir, "in.pcap", &f);
        // Two outputs: ARP goes out output 1.
        let g = graph(
            &[
                ("fd", "FromDump", &format!("{path}, FORCE_IP true")),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0), (0, 1, 1, 1)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run(|_| true);
        let seen = take_collected();
        // Batches leave port by port, so compare per port.
        let on = |port| seen.iter().filter(|s| s.port == port).count();
        assert_eq!((on(0), on(1)), (2, 1));
        assert_eq!(seen.iter().find(|s| s.port == 1).unwrap().data, arp_frame());
        assert_eq!(seen[0].network_offset, Some(14));
        assert_eq!(seen[0].transport_offset, Some(34));
        assert_eq!(seen[0].anno.dst_ip, [192, 0, 2, 7]);
        assert_eq!(r.read_handler("fd.count").unwrap(), "2");
        // One output: ARP is dropped and counted.
        let (seen, r) = run_one(&format!("{path}, FORCE_IP true"));
        assert_eq!(seen.len(), 2);
        assert_eq!(r.read_handler("fd.non_ip").unwrap(), "1");
        assert_eq!(r.read_handler("fd.drops").unwrap(), "1");
    }

    #[test]
    fn raw_ip_captures_get_network_header_at_zero() {
        let dir = tempdir();
        let frame = udp_frame([10, 9, 8, 7], b"raw");
        let ip = &frame[14..];
        for lt in [101, 12, 228] {
            let f = pcap_file(false, false, lt, &[(1, 0, ip), (2, 0, b"\x00garbage")]);
            let path = write(&dir, "raw.pcap", &f);
            let (seen, r) = run_one(&path);
            assert_eq!(
                seen.len(),
                1,
                "non-IP raw records are dropped (linktype {lt})"
            );
            assert_eq!(seen[0].network_offset, Some(0));
            assert_eq!(seen[0].anno.dst_ip, [10, 9, 8, 7]);
            assert_eq!(r.read_handler("fd.encap").unwrap(), "IP");
        }
    }

    #[test]
    fn force_ip_on_unknown_link_type_is_a_configuration_error() {
        let dir = tempdir();
        let path = write(&dir, "wifi.pcap", &pcap_file(false, false, 105, &[]));
        let g = graph(
            &[
                ("fd", "FromDump", &format!("{path}, FORCE_IP true")),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let e = router(&g, 0).err().unwrap();
        assert!(e.contains("FORCE_IP cannot find IP headers"), "{e}");
    }

    #[test]
    fn truncated_file_emits_what_it_can_and_reports() {
        let dir = tempdir();
        let f = pcap_file(
            false,
            false,
            1,
            &[(1, 0, &arp_frame()), (2, 0, &arp_frame())],
        );
        let path = write(&dir, "cut.pcap", &f[..f.len() - 5]);
        let g = graph(
            &[
                ("fd", "FromDump", &format!("{path}, STOP true")),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let (mut r, b) = router(&g, 0).unwrap();
        r.run(|_| true);
        assert_eq!(take_collected().len(), 1);
        assert!(r.is_stopped(), "the end of a damaged file is still the end");
        assert_eq!(r.read_handler("fd.errors").unwrap(), "1");
        let l = b.lines();
        assert!(
            l.iter()
                .any(|l| l.contains("truncated packet data at byte")),
            "{l:?}"
        );
    }

    #[test]
    fn bad_files_are_configuration_errors() {
        let dir = tempdir();
        let missing = arg(&dir.path().join("nope.pcap"));
        let g = graph(
            &[("fd", "FromDump", &missing), ("s", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        let e = router(&g, 0).err().unwrap();
        assert!(e.contains("nope.pcap: No such file or directory"), "{e}");
        let junk = write(&dir, "junk.pcap", b"this is not a capture file at all");
        let g = graph(
            &[("fd", "FromDump", &junk), ("s", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        assert!(router(&g, 0).err().unwrap().contains("bad magic number"));
        let empty = write(&dir, "empty.pcap", b"");
        let g = graph(
            &[("fd", "FromDump", &empty), ("s", "Collect", "")],
            &[(0, 0, 1, 0)],
        );
        assert!(router(&g, 0).err().unwrap().contains("empty file"));
    }

    #[test]
    fn argument_errors() {
        let g = graph(
            &[
                (
                    "fd",
                    "FromDump",
                    "x.pcap, START 1, START_AFTER 2s, SAMPLE lots",
                ),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let e = router(&g, 0).err().unwrap();
        assert!(e.contains("SAMPLE"), "{e}");
        let g = graph(
            &[
                ("fd", "FromDump", "x.pcap, START 1, START_AFTER 2s"),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        assert!(router(&g, 0).err().unwrap().contains("mutually exclusive"));
    }

    #[test]
    fn sampling_start_and_end() {
        let dir = tempdir();
        let p = arp_frame();
        let recs: Vec<(u32, u32, &[u8])> = (0..10).map(|i| (T0 as u32 + i, 0, &p[..])).collect();
        let path = write(&dir, "ten.pcap", &pcap_file(false, false, 1, &recs));
        let (seen, r) = run_one(&format!("{path}, SAMPLE 0"));
        assert!(seen.is_empty());
        assert_eq!(r.read_handler("fd.sampling_prob").unwrap(), "0");
        let (seen, r) = run_one(&format!("{path}, SAMPLE 0.5"));
        assert!(seen.len() < 10);
        assert_eq!(r.read_handler("fd.sampling_prob").unwrap(), "0.5");
        let (seen, _) = run_one(&format!("{path}, SAMPLE 2"));
        assert_eq!(seen.len(), 10, "a probability above 1 means 1");
        let (seen, _) = run_one(&format!("{path}, START_AFTER 2s, END_AFTER 5s"));
        let secs: Vec<u64> = seen
            .iter()
            .map(|s| s.anno.timestamp_ns / 1_000_000_000 - T0)
            .collect();
        assert_eq!(secs, [2, 3, 4]);
        let (seen, _) = run_one(&format!("{path}, START {}.5, INTERVAL 2", T0 + 6));
        let secs: Vec<u64> = seen
            .iter()
            .map(|s| s.anno.timestamp_ns / 1_000_000_000 - T0)
            .collect();
        assert_eq!(secs, [7, 8]);
        let (seen, r) = run_one(&format!("{path}, END {}, STOP true", T0 + 1));
        assert_eq!(seen.len(), 1);
        assert!(r.is_stopped());
    }

    #[test]
    fn timing_keeps_the_original_spacing() {
        let dir = tempdir();
        let p = arp_frame();
        let path = write(
            &dir,
            "t.pcap",
            &pcap_file(false, false, 1, &[(100, 0, &p), (102, 0, &p)]),
        );
        let g = graph(
            &[
                ("fd", "FromDump", &format!("{path}, true")),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let (mut r, b) = router(&g, 5_000_000_000).unwrap();
        r.run_rounds(3);
        assert_eq!(take_collected().len(), 1, "the first packet goes at once");
        b.clock.advance(1_999_999_999);
        r.run_rounds(3);
        assert!(
            take_collected().is_empty(),
            "the second is two seconds later"
        );
        b.clock.advance(1);
        r.run_rounds(3);
        assert_eq!(take_collected().len(), 1);
    }

    #[test]
    fn active_false_waits_for_the_handler() {
        let dir = tempdir();
        let path = write(
            &dir,
            "a.pcap",
            &pcap_file(false, false, 1, &[(1, 0, &arp_frame())]),
        );
        let g = graph(
            &[
                ("fd", "FromDump", &format!("{path}, ACTIVE false")),
                ("s", "Collect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run_rounds(5);
        assert!(take_collected().is_empty());
        assert_eq!(r.read_handler("fd.active").unwrap(), "false");
        r.write_handler("fd.active", "true").unwrap();
        r.run_rounds(5);
        assert_eq!(take_collected().len(), 1);
        assert!(r.write_handler("fd.active", "maybe").is_err());
    }

    #[test]
    fn pull_output_is_answered() {
        let dir = tempdir();
        let p = arp_frame();
        let recs: Vec<(u32, u32, &[u8])> = (0..7).map(|i| (i, 0, &p[..])).collect();
        let path = write(&dir, "p.pcap", &pcap_file(false, false, 1, &recs));
        let g = graph(
            &[
                ("fd", "FromDump", &format!("{path}, STOP true")),
                ("s", "PullCollect", ""),
            ],
            &[(0, 0, 1, 0)],
        );
        let (mut r, _) = router(&g, 0).unwrap();
        r.run_rounds(10);
        assert_eq!(take_collected().len(), 7);
        assert!(r.is_stopped());
    }

    #[test]
    fn oversized_records_are_counted() {
        let dir = tempdir();
        // A jumbo frame takes a large buffer; beyond 64 KiB nothing holds a packet.
        let (jumbo, big) = (vec![7u8; 9014], vec![0u8; 70_000]);
        let path = write(
            &dir,
            "big.pcap",
            &pcap_file(
                false,
                false,
                1,
                &[(1, 0, &jumbo), (2, 0, &big), (3, 0, &arp_frame())],
            ),
        );
        let (seen, r) = run_one(&path);
        assert_eq!(seen.len(), 2);
        assert_eq!(r.read_handler("fd.too_big").unwrap(), "1");
    }

    #[test]
    fn reads_pcapng_written_by_another_implementation() {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::interface_description::{
            InterfaceDescriptionBlock, InterfaceDescriptionOption,
        };
        use pcap_file::pcapng::PcapNgWriter;
        use pcap_file::{DataLink, Endianness};
        use std::borrow::Cow;
        let a = udp_frame([10, 0, 0, 3], b"ng");
        let b = arp_frame();
        for endian in [Endianness::Big, Endianness::Little] {
            let mut out = Vec::new();
            {
                let mut w = PcapNgWriter::with_endianness(&mut out, endian).unwrap();
                w.write_pcapng_block(InterfaceDescriptionBlock {
                    linktype: DataLink::ETHERNET,
                    snaplen: 0,
                    options: vec![InterfaceDescriptionOption::IfTsResol(9)],
                })
                .unwrap();
                for (i, d) in [&a, &b].iter().enumerate() {
                    w.write_pcapng_block(EnhancedPacketBlock {
                        interface_id: 0,
                        timestamp: core::time::Duration::from_nanos(
                            T0 * 1_000_000_000 + i as u64 * 7,
                        ),
                        original_len: d.len() as u32,
                        data: Cow::Borrowed(&d[..]),
                        options: vec![],
                    })
                    .unwrap();
                }
            }
            let dir = tempdir();
            let path = write(&dir, "x.pcapng", &out);
            let (seen, r) = run_one(&format!("{path}, FORCE_IP true"));
            assert_eq!(seen.len(), 1);
            assert_eq!(seen[0].data, a);
            assert_eq!(seen[0].anno.timestamp_ns, T0 * 1_000_000_000);
            assert_eq!(seen[0].network_offset, Some(14));
            assert_eq!(r.read_handler("fd.non_ip").unwrap(), "1");
        }
    }
}
