//! Activity notification, as Click's notifiers: a queue tells the tasks around it whether it
//! has packets (its *empty* notifier, for the pullers downstream) and whether it has room
//! (its *full* notifier, for the sources upstream), so a task with nothing to do skips its
//! run instead of moving packets that would only be dropped. A router whose tasks all wait
//! on their signals is idle, and simulated time moves on to the next timer.
//!
//! An element that queues offers a [`Notifier`] per port through
//! [`Element::notifier`](crate::Element::notifier); a task finds the notifiers it depends on
//! while it initializes ([`InitContext::downstream_full_signal`](crate::InitContext),
//! [`InitContext::upstream_empty_signal`](crate::InitContext)) and checks the resulting
//! [`Signal`] at the start of each run.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::Cell;

/// Which of a queue's states a notifier reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifierKind {
    /// Active while the element has packets to hand out (on a pull output).
    Empty,
    /// Active while the element has room for more packets (on a push input).
    Full,
}

/// One activity flag, raised and lowered by the element that owns it and read by the tasks
/// that wait on it. Clones share the flag.
#[derive(Clone, Debug)]
pub struct Notifier(Rc<Cell<bool>>);

impl Notifier {
    /// A notifier that starts `active`.
    pub fn new(active: bool) -> Self {
        Self(Rc::new(Cell::new(active)))
    }

    /// Raises (`true`) or lowers the flag.
    #[inline]
    pub fn set_active(&self, active: bool) {
        self.0.set(active);
    }

    /// Whether the flag is raised.
    #[inline]
    pub fn active(&self) -> bool {
        self.0.get()
    }
}

/// What a task waits on: active when any of its notifiers is, or always.
#[derive(Clone, Debug, Default)]
pub enum Signal {
    /// Always active: the path reaches something that may take or give packets at any
    /// time (a sink without a notifier, a pull/push boundary), or nothing was searched.
    #[default]
    Busy,
    /// Active while at least one of these is.
    Any(Box<[Notifier]>),
}

impl Signal {
    /// The signal of `notifiers` (an empty list: always active, since nothing reports).
    pub fn any(notifiers: Vec<Notifier>) -> Self {
        if notifiers.is_empty() {
            Self::Busy
        } else {
            Self::Any(notifiers.into_boxed_slice())
        }
    }

    /// Whether the task should run.
    #[inline]
    pub fn active(&self) -> bool {
        match self {
            Self::Busy => true,
            Self::Any(n) => n.iter().any(Notifier::active),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Notifier, Signal};

    #[test]
    fn a_signal_is_active_while_any_notifier_is() {
        let (a, b) = (Notifier::new(true), Notifier::new(false));
        let s = Signal::any(alloc::vec![a.clone(), b.clone()]);
        assert!(s.active());
        a.set_active(false);
        assert!(!s.active());
        b.set_active(true);
        assert!(s.active());
        assert!(Signal::any(alloc::vec![]).active(), "nothing reports: busy");
    }
}
