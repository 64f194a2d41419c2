//! Helpers shared by the IP and Ethernet elements: per-packet verdicts, drop counters by
//! reason, argument types and handler value parsing.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use sluice_config::args::{self, keyword, Args, FromArg, Ipv4Prefix, NameLookup};
use sluice_config::Span;
use sluice_dataplane::{Batch, Context, Element, Handler, HandlerError, Packet, BATCH_MAX};

/// Where one packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Out of this port; a port that is not connected drops the packet (Click's
    /// `checked_output_push`).
    Out(usize),
    /// Dropped.
    Drop,
}

// `push_each` keeps one bit per packet of a batch in a `u64`.
const _: () = assert!(BATCH_MAX <= 64);

/// Runs `action` on every packet of `batch` and sends each where its verdict says. The
/// packets are processed in place; when every verdict is output 0 (the common case) the
/// batch is handed on whole, otherwise packets bound for output 0 are gathered into one
/// batch and the rest go out one by one.
#[inline]
pub(crate) fn push_each(
    ctx: &mut Context<'_>,
    mut batch: Batch,
    mut action: impl FnMut(&mut Packet) -> Verdict,
) {
    let n = ctx.noutputs();
    // Bit `i` set: packet `i` does not go to output 0; `ports[i]` says where it goes
    // (`usize::MAX`: dropped).
    let mut others: u64 = 0;
    let mut ports = [usize::MAX; BATCH_MAX];
    for (i, p) in batch.iter_mut().enumerate() {
        match action(p) {
            Verdict::Out(0) if n > 0 => {}
            v => {
                others |= 1 << i;
                if let Verdict::Out(port) = v {
                    ports[i] = port;
                }
            }
        }
    }
    if others == 0 {
        if !batch.is_empty() {
            ctx.output_batch(0, batch);
        }
        return;
    }
    split(ctx, batch, others, &ports, n);
}

/// The rest of [`push_each`] when some packets leave by other ports or are dropped.
#[inline(never)]
fn split(ctx: &mut Context<'_>, batch: Batch, others: u64, ports: &[usize; BATCH_MAX], n: usize) {
    let mut first = Batch::new();
    for (i, p) in batch.into_iter().enumerate() {
        if others & (1 << i) == 0 {
            // Cannot overflow: `first` holds at most as many packets as `batch` did.
            first.push(p);
        } else if ports[i] < n {
            ctx.output(ports[i], p);
        }
        // Otherwise dropped here.
    }
    if !first.is_empty() {
        ctx.output_batch(0, first);
    }
}

/// Runs `action` on every packet of `batch` in place and hands the batch on whole to
/// output 0 (elements whose every packet leaves by output 0, such as `Strip`).
#[inline]
pub(crate) fn forward_each(
    ctx: &mut Context<'_>,
    mut batch: Batch,
    action: impl FnMut(&mut Packet),
) {
    batch.iter_mut().for_each(action);
    if ctx.noutputs() > 0 && !batch.is_empty() {
        ctx.output_batch(0, batch);
    }
}

/// Drop counters by reason, Click style: a total (`drops`) and, when `DETAILS` is on, one
/// counter per reason (`drop_details`). The first drop (or every drop when verbose) is
/// reported on the console.
#[derive(Debug)]
pub(crate) struct DropStats {
    pub drops: u64,
    pub by_reason: Vec<u64>,
    pub details: bool,
    pub verbose: bool,
}

impl DropStats {
    pub fn new(nreasons: usize, details: bool, verbose: bool) -> Self {
        Self {
            drops: 0,
            by_reason: alloc::vec![0; nreasons],
            details,
            verbose,
        }
    }

    /// Counts a drop for `reason`; returns whether to report it on the console.
    #[inline]
    pub fn count(&mut self, reason: usize) -> bool {
        let report = self.drops == 0 || self.verbose;
        self.drops += 1;
        if let Some(c) = self.by_reason.get_mut(reason) {
            *c += 1;
        }
        report
    }

    /// The `drop_details` text: one `count<TAB>reason` line per reason.
    pub fn details_text(&self, texts: &[&str]) -> String {
        let mut s = String::new();
        for (c, t) in self.by_reason.iter().zip(texts) {
            s.push_str(&format!("{c}\t{t}\n"));
        }
        s
    }
}

/// Reports a dropped packet on the console (the cold path of a drop).
#[cold]
pub(crate) fn report_drop(ctx: &Context<'_>, what: &str, reason: &str) {
    ctx.log(&format!("{}: {what} check failed: {reason}", ctx.name()));
}

/// A space-separated list of IPv4 addresses (`BADSRC 1.2.3.4 5.6.7.8`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ipv4List(pub Vec<Ipv4Addr>);

impl FromArg for Ipv4List {
    const EXPECTED: &'static str = "a list of IPv4 addresses";
    fn from_arg(text: &str, names: Option<&dyn NameLookup>) -> Result<Self, String> {
        text.split_whitespace()
            .map(|w| Ipv4Addr::from_arg(w, names))
            .collect::<Result<Vec<_>, _>>()
            .map(Ipv4List)
    }
}

/// A space-separated list of IPv4 prefixes (`INTERFACES 10.0.0.1/24 ...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PrefixList(pub Vec<Ipv4Prefix>);

impl FromArg for PrefixList {
    const EXPECTED: &'static str = "a list of IPv4 prefixes";
    fn from_arg(text: &str, names: Option<&dyn NameLookup>) -> Result<Self, String> {
        text.split_whitespace()
            .map(|w| Ipv4Prefix::from_arg(w, names))
            .collect::<Result<Vec<_>, _>>()
            .map(PrefixList)
    }
}

/// Parses a value written to handler `handler`.
pub(crate) fn parse_value<T: FromArg>(handler: &str, value: &str) -> Result<T, HandlerError> {
    T::from_arg(value.trim(), None).map_err(|e| HandlerError::BadValue(format!("{handler}: {e}")))
}

/// Click's `EtherAddress::unparse`, which its `config` texts and address handlers print:
/// upper-case hex, dash-separated (`00-0A-95-9D-68-16`).
pub(crate) fn ether_unparse(a: [u8; 6]) -> String {
    crate::routing::addr::unparse_ether(&a)
}

/// Click's `read_keyword_handler`: the value of keyword argument `key` in the configuration
/// text `config` (the last one, if it is given twice), or empty when it is not there.
pub(crate) fn config_keyword(config: &str, key: &str) -> String {
    args::split(config, Span::default())
        .iter()
        .rev()
        .find_map(|a| keyword(a.text).filter(|(k, _)| *k == key))
        .map_or_else(String::new, |(_, v)| v.to_string())
}

/// Click's `reconfigure_keyword_handler` for an element whose configuration text is
/// `config`: the text with `key` set to `value`. Arguments that give `key` as a keyword are
/// replaced by `KEY value` at the end; when there are none and argument `position` exists
/// and is not a keyword argument, it becomes `value`; otherwise `KEY value` is added at the
/// end. The element then reconfigures from the new text (see [`reconfigure`]).
pub(crate) fn set_config_keyword(
    config: &str,
    position: Option<usize>,
    key: &str,
    value: &str,
) -> String {
    let mut conf: Vec<String> = args::split(config, Span::default())
        .iter()
        .map(|a| a.text.to_string())
        .collect();
    let is_key = |a: &String| keyword(a).is_some_and(|(k, _)| k == key);
    let given = conf.iter().any(is_key);
    let plain = position.filter(|&i| i < conf.len() && keyword(&conf[i]).is_none());
    match plain {
        Some(i) if !given => conf[i] = value.to_string(),
        _ => {
            conf.retain(|a| !is_key(a));
            conf.push(format!("{key} {value}"));
        }
    }
    conf.join(", ")
}

/// Click's live reconfiguration: parses the configuration text `config` with `parse`, as
/// the element's constructor parses its arguments. Every error the text has, joined, when
/// it does not parse; the element then keeps its state, as in Click.
pub(crate) fn reconfigure<T>(
    config: &str,
    parse: impl FnOnce(&mut Args<'_>) -> Option<T>,
) -> Result<T, HandlerError> {
    let mut args = Args::new(config, Span::default());
    let made = parse(&mut args);
    let errors = match (args.finish(), made) {
        (Ok(()), Some(v)) => return Ok(v),
        (Ok(()), None) => Vec::new(),
        (Err(e), _) => e,
    };
    let messages: Vec<String> = errors.into_iter().map(|d| d.message).collect();
    Err(HandlerError::BadValue(if messages.is_empty() {
        "bad configuration".to_string()
    } else {
        messages.join("; ")
    }))
}

/// Click's unparsing of a boolean.
pub(crate) fn bool_str(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

/// The IP header of a packet whose network header annotation is set, as bytes from the
/// header to the end of the data, if at least `min` bytes are there.
#[inline]
pub(crate) fn ip_bytes(p: &Packet, min: usize) -> Option<usize> {
    let off = p.network_offset()?;
    (p.len() >= off && p.len() - off >= min).then_some(off)
}

/// What a printing element (`IPPrint`, `ARPPrint`) says about one packet: its line, or
/// nothing for a packet it does not describe.
pub(crate) trait PacketLine {
    /// The line for `p`.
    fn line(&self, p: &Packet) -> Option<String>;
}

/// A printing element: logs `format`'s line for every packet while `active`, and passes
/// every packet on unchanged. Handlers: `active` (rw).
pub(crate) struct LinePrinter<F> {
    pub format: F,
    pub active: bool,
}

impl<F: PacketLine + 'static> Element for LinePrinter<F> {
    fn push(&mut self, ctx: &mut Context<'_>, _: usize, batch: Batch) {
        if self.active {
            for p in &batch {
                if let Some(line) = self.format.line(p) {
                    ctx.log(&line);
                }
            }
        }
        ctx.output_batch(0, batch);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        (name == "active").then(|| bool_str(self.active))
    }

    fn write_handler(
        &mut self,
        _: &mut Context<'_>,
        name: &str,
        value: &str,
    ) -> Result<(), HandlerError> {
        if name != "active" {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.active = parse_value(name, value)?;
        Ok(())
    }

    fn handlers(&self) -> &'static [Handler] {
        const H: &[Handler] = &[Handler::read_write("active")];
        H
    }
}
