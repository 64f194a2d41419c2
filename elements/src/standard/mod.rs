//! The standard elements: sources and sinks, counters, queues, switches, `Tee`, `Print`,
//! `Truncate`/`Pad`/`CheckLength`/`Resize`, `RatedUnqueue`/`BandwidthRatedUnqueue`, `DelayUnqueue`, `SetTimestamp`,
//! `RatedSplitter`/`BandwidthRatedSplitter`, `FrontDropQueue`/`MixedQueue`, `Hub`, `RoundRobinSched`/`PrioSched`,
//! `StrideSched`, `PullSwitch`/`SimplePullSwitch`, `Bypass`, `Shaper`, `TimedSink`, `LinkUnqueue`,
//! `SetTimestampDelta`, `ScheduleInfo`, `Align`/`AlignmentInfo`, `RandomSample`, `Clipboard`, `TimedSource`, `DelayShaper`, `TimeSortedSched`,
//! `Script`/`DriverManager`, `RandomSeed`, `AddressInfo`, and the device elements `FromDevice`/`ToDevice`.
//! Each file's module documentation is the element's manual, in Click's style.

use sluice_dataplane::ElementClass;

pub mod addressinfo;
pub mod align;
pub mod bwratedsplitter;
pub mod bypass;
pub mod clipboard;
mod common;
pub(crate) use common::parse_value as common_parse_value;
pub mod counter;
pub mod delayshaper;
pub mod delayunqueue;
pub mod device;
pub mod discard;
pub mod frontdropqueue;
mod gaprate;
pub mod hub;
pub mod infinitesource;
pub mod length;
pub mod linkunqueue;
pub mod mixedqueue;
pub mod paint;
pub mod print;
pub mod pullswitch;
pub mod queue;
pub mod randomsample;
pub mod randomseed;
pub mod rated;
pub mod ratedsource;
pub mod ratedsplitter;
pub mod resize;
pub mod sched;
pub mod scheduleinfo;
pub mod script;
pub mod settimestamp;
pub mod settimestampdelta;
pub mod shaper;
pub mod stridesched;
pub mod switch;
pub mod tee;
pub mod timedsink;
pub mod timedsource;
pub mod timesortedsched;
pub mod unqueue;

/// The classes of this family, each a `static` named as Click names it.
#[allow(non_upper_case_globals)]
pub mod classes {
    pub use super::addressinfo::AddressInfo;
    pub use super::align::{Align, AlignmentInfo};
    pub use super::bwratedsplitter::BandwidthRatedSplitter;
    pub use super::bypass::Bypass;
    pub use super::clipboard::Clipboard;
    pub use super::counter::{AverageCounter, Counter};
    pub use super::delayshaper::DelayShaper;
    pub use super::delayunqueue::DelayUnqueue;
    pub use super::device::{FromDevice, ToDevice};
    pub use super::discard::{Discard, Idle};
    pub use super::frontdropqueue::FrontDropQueue;
    pub use super::hub::Hub;
    pub use super::infinitesource::{InfiniteSource, RandomSource};
    pub use super::length::{CheckLength, Pad, Truncate};
    pub use super::linkunqueue::LinkUnqueue;
    pub use super::mixedqueue::MixedQueue;
    pub use super::paint::{Null, Paint, PaintSwitch, PullNull, PushNull};
    pub use super::print::Print;
    pub use super::pullswitch::{PullSwitch, SimplePullSwitch};
    pub use super::queue::{FullNoteQueue, NotifierQueue, Queue, SimpleQueue};
    pub use super::randomsample::RandomSample;
    pub use super::randomseed::RandomSeed;
    pub use super::rated::{BandwidthRatedUnqueue, RatedUnqueue};
    pub use super::ratedsource::RatedSource;
    pub use super::ratedsplitter::RatedSplitter;
    pub use super::resize::Resize;
    pub use super::sched::{PrioSched, RoundRobinSched};
    pub use super::scheduleinfo::ScheduleInfo;
    pub use super::script::{DriverManager, Script};
    pub use super::settimestamp::SetTimestamp;
    pub use super::settimestampdelta::SetTimestampDelta;
    pub use super::shaper::Shaper;
    pub use super::stridesched::StrideSched;
    pub use super::switch::{
        HashSwitch, InputSwitch, RandomSwitch, RoundRobinSwitch, StaticSwitch, Switch,
    };
    pub use super::tee::{PullTee, Tee};
    pub use super::timedsink::TimedSink;
    pub use super::timedsource::TimedSource;
    pub use super::timesortedsched::TimeSortedSched;
    pub use super::unqueue::Unqueue;
}

use classes::*;

/// Every class of this family.
pub static ALL: &[&ElementClass] = &[
    &InfiniteSource,
    &RandomSource,
    &RatedSource,
    &TimedSource,
    &Discard,
    &TimedSink,
    &Idle,
    &Print,
    &Counter,
    &AverageCounter,
    &Queue,
    &SimpleQueue,
    &NotifierQueue,
    &FullNoteQueue,
    &FrontDropQueue,
    &MixedQueue,
    &Unqueue,
    &DelayUnqueue,
    &DelayShaper,
    &LinkUnqueue,
    &Shaper,
    &RatedUnqueue,
    &BandwidthRatedUnqueue,
    &RatedSplitter,
    &BandwidthRatedSplitter,
    &RoundRobinSched,
    &PrioSched,
    &StrideSched,
    &TimeSortedSched,
    &PullSwitch,
    &SimplePullSwitch,
    &ScheduleInfo,
    &AlignmentInfo,
    &Align,
    &Tee,
    &PullTee,
    &Hub,
    &Clipboard,
    &Null,
    &PushNull,
    &PullNull,
    &Truncate,
    &Pad,
    &CheckLength,
    &Resize,
    &Paint,
    &SetTimestamp,
    &SetTimestampDelta,
    &PaintSwitch,
    &Switch,
    &StaticSwitch,
    &InputSwitch,
    &RoundRobinSwitch,
    &HashSwitch,
    &RandomSwitch,
    &RandomSample,
    &Bypass,
    &RandomSeed,
    &Script,
    &DriverManager,
    &AddressInfo,
    &FromDevice,
    &ToDevice,
];
