//! Host-only elements (`std` feature): packet capture files, the control socket.
//!
//! | element | what it does |
//! |---|---|
//! | [`FromDump`](classes::FromDump) | reads a pcap or pcapng file |
//! | [`ToDump`](classes::ToDump) | writes a pcap file |
//! | [`FromIPSummaryDump`](classes::FromIPSummaryDump) | makes IP packets from text lines (Click's ipsumdump) |
//! | [`ToIPSummaryDump`](classes::ToIPSummaryDump) | writes IP packets as text lines |
//! | [`ControlSocket`](classes::ControlSocket) | serves the router's handlers on a UNIX or TCP socket |

use sluice_dataplane::ElementClass;

pub mod controlsocket;
pub mod fromdump;
pub mod ipsumdump;
pub mod pcap;
mod sumdump_opts;
pub mod todump;

#[cfg(test)]
mod testutil;

/// `TIMING` for trace sources: when a packet stamped `ts` is due, with `offset` the router
/// time minus the first packet's timestamp; `None` when it is due by `now`.
fn timing_wait(ts: u64, offset: i128, now: u64) -> Option<u64> {
    let due = i128::from(ts) + offset;
    (i128::from(now) < due).then(|| u64::try_from(due).unwrap_or(u64::MAX))
}

/// The classes of this family, each a `static` named as Click names it.
#[allow(non_upper_case_globals)]
pub mod classes {
    pub use super::controlsocket::ControlSocket;
    pub use super::fromdump::FromDump;
    pub use super::ipsumdump::{FromIPSummaryDump, ToIPSummaryDump};
    pub use super::todump::ToDump;
}

/// Every class of this family.
pub static ALL: &[&ElementClass] = &[
    &classes::FromDump,
    &classes::ToDump,
    &classes::FromIPSummaryDump,
    &classes::ToIPSummaryDump,
    &classes::ControlSocket,
];
