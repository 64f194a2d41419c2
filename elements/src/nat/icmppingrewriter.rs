//! `ICMPPingRewriter(INPUTSPEC_1, ..., INPUTSPEC_N [, KEYWORDS])`: rewrites ICMP echo
//! requests and replies, so pings pass through a NAT.
//!
//! Ports: one or more inputs (one per INPUTSPEC), one or more outputs. Processing: push.
//!
//! # Description
//!
//! A mapping changes echo requests `(src, dst, identifier)` into `(src2, dst2, ident2)` and
//! replies `(dst2, src2, ident2)` back into `(dst, src, identifier)`. An echo request
//! (type 8) with no mapping is handled by its input's INPUTSPEC, exactly as in `IPRewriter`
//! (`drop`, `pass OUTPUT`, `keep FOUTPUT ROUTPUT`, `pattern SADDR SPORT DADDR DPORT FOUTPUT
//! ROUTPUT`, `pattern NAME ...`, a mapper); the pattern's SPORT (range) gives the new
//! identifier, which is never one already in use towards the same destination. An echo
//! reply (type 0) is rewritten only when it matches a mapping's reply side. Everything else
//! (other ICMP types, other protocols, fragments, replies without a mapping) is emitted
//! unchanged if the input spec is `pass OUTPUT`, and dropped otherwise. The IP and ICMP
//! checksums are updated incrementally.
//!
//! # Keywords
//!
//! - `TIMEOUT`: seconds a mapping lives after its last packet; default 5 minutes.
//! - `GUARANTEE`: default 5 seconds. `REAP_INTERVAL`: default 15 minutes.
//! - `MAPPING_CAPACITY`: default unlimited. `DST_ANNO`: default true.
//!
//! # Handlers
//!
//! `table` (also `mappings`), `nmappings`, `mapping_failures`, `size`, `capacity`,
//! `patterns`, `clear`, `bad_packets`; see `IPRewriter`.
//!
//! # Example
//!
//! ```text
//! pr :: ICMPPingRewriter(pattern 21.0.0.1 1024-65535 - - 0 1, drop);
//! ```
//!
//! # Differences from Click
//!
//! Only the INPUTSPEC form is accepted (Click's older `ICMPPingRewriter(SRC, DST)` signature
//! is written `pattern SRC - DST - 0 1` here).

#![allow(non_upper_case_globals)]

use alloc::boxed::Box;

use sluice_config::args::Args;
use sluice_dataplane::{ConfigContext, Element, ElementClass};

use super::rewriter::{configure, Kind};

fn make(args: &mut Args<'_>, cctx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    configure(Kind::Ping, args, cctx)
}

/// Rewrites ICMP echo requests and replies.
pub static ICMPPingRewriter: ElementClass = ElementClass {
    name: "ICMPPingRewriter",
    ports: "1-/1-",
    processing: "h/h",
    make,
};
