//! `IPRewriterPatterns(NAME SADDR SPORT DADDR DPORT, ...)` — declares rewrite patterns by name.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a/a` (unused: no ports).
//!
//! Declares rewrite patterns by name, for input specs of the form `pattern NAME FOUTPUT
//! ROUTPUT` in `IPRewriter`, `TCPRewriter`, `UDPRewriter` and `ICMPPingRewriter`. Each
//! argument is a name followed by a pattern (`SADDR SPORT DADDR DPORT` or `SADDR DADDR`, as
//! in `IPRewriter`'s `pattern` input specs). Names are global to the configuration.
//!
//! **Example:**
//!
//! ```text
//! IPRewriterPatterns(NAT 21.0.0.1 1024-65535 - -);
//! rw :: IPRewriter(pattern NAT 0 1, drop);
//! ```
//!
//! **Differences from Click:** a pattern named by several input specs is copied into each,
//! so allocation state (sequential position) is per input spec; uniqueness of a chosen port
//! is checked against the rewriter's own table, as Click does.
//!
//! ## `RoundRobinIPMapper(PATTERN_1, ..., PATTERN_N)` — maps new flows by patterns taken in turn.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a/a` (unused: no ports).
//!
//! An IPMapper: a rewriter input spec that names it (`IPRewriter(rr, ...)`) asks it for each
//! new flow's mapping. Each argument is a pattern with its ports,
//! `SADDR SPORT DADDR DPORT FOUTPUT ROUTPUT`; successive new flows take the patterns in
//! turn, skipping a pattern whose range is exhausted: a load balancer.
//!
//! **Example:**
//!
//! ```text
//! rr :: RoundRobinIPMapper(- - 10.0.0.1 - 0 1, - - 10.0.0.2 - 0 1);
//! rw :: IPRewriter(rr, drop);
//! ```
//!
//! **Differences from Click:** each rewriter that names a mapper keeps its own round-robin
//! position; uniqueness of a chosen port is checked against the rewriter's own table, as
//! Click does.

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{Batch, ConfigContext, Context, Element, ElementClass};

use super::pattern::Pattern;
use super::rewriter::parse_mapper;

/// An element that only carries configuration for others to read.
struct Information;

impl Element for Information {
    fn push(&mut self, _: &mut Context<'_>, _: usize, _: Batch) {}
}

fn make_patterns(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let all = args.rest();
    if all.is_empty() {
        args.error_whole("expected NAME SADDR SPORT DADDR DPORT, ...");
    }
    for a in all {
        let words: alloc::vec::Vec<&str> = a.text.split_whitespace().collect();
        if words.len() < 3 {
            args.error(
                a.span,
                "expected 'NAME SADDR SPORT DADDR DPORT' or 'NAME SADDR DADDR'",
            );
            continue;
        }
        if let Err(m) = Pattern::parse(&words[1..], None) {
            args.error(a.span, alloc::format!("pattern '{}': {m}", words[0]));
        }
    }
    Some(Box::new(Information))
}

fn make_mapper(args: &mut Args<'_>, _: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let all = args.rest();
    for a in &all {
        // Output ports are checked against the rewriter that uses the mapper.
        if let Err(m) = parse_mapper(a.text, usize::MAX) {
            args.error(a.span, m);
        }
    }
    if all.is_empty() {
        args.error_whole("expected PATTERN, ...");
    }
    Some(Box::new(Information))
}

/// Named rewrite patterns.
pub static IPRewriterPatterns: ElementClass = ElementClass {
    name: "IPRewriterPatterns",
    ports: "0/0",
    processing: "a/a",
    make: make_patterns,
    names: None,
};

/// Hands out mappings from its patterns in turn.
pub static RoundRobinIPMapper: ElementClass = ElementClass {
    name: "RoundRobinIPMapper",
    ports: "0/0",
    processing: "a/a",
    make: make_mapper,
    names: None,
};
