//! sluice's data path: zero-copy packets moving in batches through an element graph.
//!
//! - [`packet`]: the buffer pool and the owned [`Packet`] handle;
//! - [`batch`]: fixed-capacity batches ([`Batch`]);
//! - [`element`]: the [`Element`] trait and class descriptions;
//! - [`context`]: what an element sees of the router ([`Context`], [`InitContext`]);
//! - [`router`]: instantiates a flattened graph and schedules it;
//! - [`console`]: where elements' messages go;
//! - [`control`]: Click's ControlSocket protocol, for every control server and client;
//! - [`device`]: the [`NetDevice`] boundary and an in-memory loopback device;
//! - [`clock`]: time sources;
//! - [`notifier`]: queues telling the tasks around them whether there is work;
//! - [`random`]: the router's random number sequence (Click's `random()`).
//! - [`prepared`]: a configuration prepared on the host for a VM, and its encoding.
//!
//! `no_std` + `alloc`: the same code runs in the unikernel and in `sluice run` on the host.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod batch;
pub mod clock;
pub mod console;
pub mod context;
pub mod control;
pub mod device;
pub mod element;
mod graph;
pub mod notifier;
pub mod packet;
pub mod prepared;
pub mod random;
pub mod router;

pub use batch::{Batch, BATCH_MAX};
pub use clock::{Clock, ManualClock, SimClock, Timestamp};
pub use context::ElementInfo;
pub use device::{DeviceStats, LoopbackDevice, NetDevice};
pub use element::{
    ConfigContext, Context, Effects, Element, ElementClass, Handler, HandlerError, InitContext,
    NameTable, TaskStatus,
};
pub use notifier::{Notifier, NotifierKind, Signal};
pub use packet::{Annotations, Packet, PacketPool, PacketType};
pub use random::ClickRandom;
pub use router::{Environment, Round, Router};
pub use sluice_config;
