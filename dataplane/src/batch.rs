//! Batches: up to [`BATCH_MAX`] packets handed to an element in one call (FastClick-style),
//! so each element is dispatched once per batch, not once per packet.

use arrayvec::ArrayVec;

use crate::packet::Packet;

/// Most packets in one batch.
pub const BATCH_MAX: usize = 32;

/// A fixed-capacity batch of packets; never allocates.
pub type Batch = ArrayVec<Packet, BATCH_MAX>;
