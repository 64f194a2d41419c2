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
use core::cell::{Cell, RefCell};

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
///
/// A notifier may also *follow* a signal (see [`follow`](Self::follow)): it is then active
/// while its own flag is raised or while that signal is. An element that hands pulls on
/// to one of its inputs (`PullSwitch`) reports its chosen input's queues this way.
#[derive(Clone, Debug)]
pub struct Notifier(Rc<State>);

#[derive(Debug)]
struct State {
    flag: Cell<bool>,
    follows: RefCell<Option<Signal>>,
    /// Set while `active` reads the followed signal, so a ring of notifiers that follow
    /// each other ends.
    reading: Cell<bool>,
}

impl Notifier {
    /// A notifier that starts `active`.
    pub fn new(active: bool) -> Self {
        Self(Rc::new(State {
            flag: Cell::new(active),
            follows: RefCell::new(None),
            reading: Cell::new(false),
        }))
    }

    /// Raises (`true`) or lowers the flag.
    #[inline]
    pub fn set_active(&self, active: bool) {
        self.0.flag.set(active);
    }

    /// Whether the flag is raised, or the signal it follows is active.
    #[inline]
    pub fn active(&self) -> bool {
        self.0.flag.get() || self.follows_active()
    }

    /// Whether the flag itself is raised.
    #[inline]
    pub fn flag(&self) -> bool {
        self.0.flag.get()
    }

    fn follows_active(&self) -> bool {
        let Ok(follows) = self.0.follows.try_borrow() else {
            return false;
        };
        let Some(signal) = follows.as_ref() else {
            return false;
        };
        if self.0.reading.replace(true) {
            return false;
        }
        let active = signal.active();
        self.0.reading.set(false);
        active
    }

    /// Makes the notifier follow `signal` (replacing what it followed), or nothing.
    pub fn follow(&self, signal: Option<Signal>) {
        if let Ok(mut f) = self.0.follows.try_borrow_mut() {
            *f = signal;
        }
    }

    /// Whether `other` is this notifier (a clone of it).
    pub fn same(&self, other: &Notifier) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
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

    #[test]
    fn a_following_notifier_is_active_with_its_signal() {
        let (a, up) = (Notifier::new(false), Notifier::new(false));
        a.follow(Some(Signal::any(alloc::vec![up.clone()])));
        assert!(!a.active());
        up.set_active(true);
        assert!(a.active() && !a.flag());
        up.set_active(false);
        a.set_active(true);
        assert!(a.active());
        a.set_active(false);
        a.follow(None);
        up.set_active(true);
        assert!(!a.active(), "follows nothing now");
        // Two that follow each other: active only through a raised flag.
        let b = Notifier::new(false);
        a.follow(Some(Signal::any(alloc::vec![b.clone()])));
        b.follow(Some(Signal::any(alloc::vec![a.clone()])));
        assert!(!a.active() && !b.active());
        b.set_active(true);
        assert!(a.active() && b.active());
        assert!(a.same(&a.clone()) && !a.same(&b));
    }
}
