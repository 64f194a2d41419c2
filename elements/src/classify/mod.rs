//! Classification: `Classifier`, `IPClassifier` and `IPFilter`.
//!
//! All three compile their patterns once, at configuration time, into a
//! [`program::Program`]: a flat list of masked 32-bit word comparisons with forward jump
//! targets. A packet runs through it in at most one step per instruction, without
//! allocation or recursion. [`lang`] parses the tcpdump-like language of `IPClassifier` and
//! `IPFilter`; `Classifier`'s `offset/value%mask` patterns are parsed in [`classifier`].

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sluice_config::args::{unquote, Arg, Args};
use sluice_config::Span;
use sluice_dataplane::{Batch, Context, Effects, Element, ElementClass, Handler, BATCH_MAX};

pub mod classifier;
pub mod ipclassifier;
pub mod ipfilter;
pub mod lang;
pub mod prepared;
pub mod program;

use program::{Expr, Outcome, Program};

/// The classes of this family, each a `static` named as Click names it.
#[allow(non_upper_case_globals)]
pub mod classes {
    pub use super::classifier::Classifier;
    pub use super::ipclassifier::IPClassifier;
    pub use super::ipfilter::IPFilter;
}

/// Every class of this family.
pub static ALL: &[&ElementClass] = &[
    &classes::Classifier,
    &classes::IPClassifier,
    &classes::IPFilter,
];

/// The element all three classes build: a compiled program and a drop count.
pub(crate) struct Classify {
    program: Program,
    drops: u64,
}

impl Classify {
    pub(crate) fn new(rules: &[(Expr, Outcome)]) -> Self {
        Self::of_program(Program::compile_with_switches(rules, SWITCH_MIN_VALUES))
    }

    pub(crate) fn of_program(program: Program) -> Self {
        Self { program, drops: 0 }
    }
}

/// A word compared with this many values or more gets a switch (one hash lookup) instead
/// of a chain of comparisons. Below it a switch saves only tens of instructions a packet,
/// while building the switched program costs more at configuration time than building the
/// whole rest of the element.
const SWITCH_MIN_VALUES: usize = 8;

const HANDLERS: &[Handler] = &[Handler::read("program"), Handler::read("drops")];

impl Element for Classify {
    fn effects(&self) -> Effects {
        Effects::Local
    }

    fn push(&mut self, ctx: &mut Context<'_>, _port: usize, batch: Batch) {
        // Decide every packet first: when all leave on one port (the common case for a
        // filter), the batch moves on whole.
        let mut outs = [Outcome::Drop; BATCH_MAX];
        for (o, p) in outs.iter_mut().zip(&batch) {
            *o = self.program.classify_packet(p);
        }
        let outs = &outs[..batch.len()];
        if let Some(&Outcome::Port(first)) = outs.first() {
            if outs.iter().all(|&o| o == Outcome::Port(first)) {
                ctx.output_batch(usize::from(first), batch);
                return;
            }
        }
        for (p, &o) in batch.into_iter().zip(outs) {
            match o {
                Outcome::Port(o) => ctx.output(usize::from(o), p),
                Outcome::Drop => self.drops += 1,
            }
        }
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        match name {
            "program" => Some(self.program.unparse()),
            "drops" => Some(self.drops.to_string()),
            _ => None,
        }
    }

    fn handlers(&self) -> &'static [Handler] {
        HANDLERS
    }

    fn prepared(&self) -> Option<Vec<u8>> {
        Some(self.program.encode())
    }
}

/// One pattern argument, unquoted, with a way back to source spans.
pub(crate) struct PatternArg {
    /// The pattern text, Click quoting removed.
    pub text: String,
    /// Where the argument is.
    pub span: Span,
    /// Whether `text` is the argument verbatim (byte offsets map onto the source).
    pub verbatim: bool,
}

impl PatternArg {
    pub(crate) fn new(arg: &Arg<'_>) -> Result<Self, String> {
        if arg.text.contains(['"', '\'', '\\']) {
            let text = unquote(arg.text)?;
            Ok(Self {
                text,
                span: arg.span,
                verbatim: false,
            })
        } else {
            Ok(Self {
                text: arg.text.to_string(),
                span: arg.span,
                verbatim: true,
            })
        }
    }

    /// The source span of bytes `start..end` of the pattern (the whole argument when the
    /// text was unquoted and offsets no longer line up).
    pub(crate) fn span(&self, start: usize, end: usize) -> Span {
        if self.verbatim && end <= self.text.len() && start <= end {
            self.span.sub(
                start,
                end.max(start + 1).min(self.text.len().max(start + 1)),
            )
        } else {
            self.span
        }
    }
}

/// Reads every argument as a pattern, recording errors (with spans) in `args`.
pub(crate) fn pattern_args(args: &mut Args<'_>) -> Vec<Option<PatternArg>> {
    let raw = args.rest();
    raw.iter()
        .enumerate()
        .map(|(i, a)| match PatternArg::new(a) {
            Ok(p) => Some(p),
            Err(m) => {
                args.error(a.span, format!("pattern {i}: {m}"));
                None
            }
        })
        .collect()
}

/// Builds the element once every pattern parsed.
pub(crate) fn finish(rules: Vec<Option<(Expr, Outcome)>>) -> Option<Box<dyn Element>> {
    let rules: Option<Vec<(Expr, Outcome)>> = rules.into_iter().collect();
    Some(Box::new(Classify::new(&rules?)))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared by the element tests: a one-element router (`c`) with every output recorded.

    use alloc::string::String;
    use alloc::vec::Vec;

    use sluice_dataplane::{Batch, ElementClass, Router};

    use crate::testutil::{collected, Bench, Harness};

    /// Builds `Class(config)` with `noutputs` outputs, each wired to input `i` of a sink,
    /// plus `AddressInfo(addresses)` when given.
    pub fn router(
        class: &'static ElementClass,
        config: &str,
        noutputs: usize,
        addresses: Option<&str>,
    ) -> Result<Router, String> {
        let mut elements = alloc::vec![("c", class.name, config, 0, noutputs)];
        elements.extend(addresses.map(|a| ("ai", "AddressInfo", a, 0, 0)));
        let bench = Bench::new().pool(64, 0).clock_at(0);
        Harness::new(bench, &elements).map(|h| h.router)
    }

    /// Pushes packets (each with the IP header at `net_offset`) and returns the output
    /// port each left on (`None`: dropped), in order.
    pub fn classify(
        r: &mut Router,
        packets: &[Vec<u8>],
        net_offset: Option<usize>,
    ) -> Vec<Option<usize>> {
        let mut out = Vec::new();
        for pkt in packets {
            let mut p = r.pool().alloc_from(pkt).expect("pool");
            if let Some(o) = net_offset {
                p.set_network_offset(o);
            }
            let mut b = Batch::new();
            b.push(p);
            r.push_to("c", 0, b).expect("push");
            let seen = collected("c/out");
            assert!(seen.len() <= 1);
            if let Some(o) = seen.first() {
                assert_eq!(&o.data, pkt, "packets leave unchanged");
            }
            out.push(seen.first().map(|o| o.port));
        }
        out
    }

    /// Error messages of a configuration that must fail.
    pub fn errors(class: &'static ElementClass, config: &str, noutputs: usize) -> String {
        match router(class, config, noutputs, None) {
            Ok(_) => panic!("'{config}' should not configure"),
            Err(e) => e,
        }
    }
}
