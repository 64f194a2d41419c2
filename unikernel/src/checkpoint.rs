//! Boot checkpoints: the TSC at kernel entry and after each bring-up step, for the ready line
//! and for boot-time measurements.

use core::fmt;

use spin::Mutex;

use crate::arch::{self, rdtsc};
use crate::clock;

/// How many checkpoints are kept; later ones are dropped.
pub const MAX_CHECKPOINTS: usize = 16;

#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    pub name: &'static str,
    pub tsc: u64,
}

/// The checkpoints recorded so far.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoints {
    entries: [Checkpoint; MAX_CHECKPOINTS],
    len: usize,
}

impl Checkpoints {
    const fn new() -> Self {
        Self {
            entries: [Checkpoint { name: "", tsc: 0 }; MAX_CHECKPOINTS],
            len: 0,
        }
    }

    pub fn as_slice(&self) -> &[Checkpoint] {
        &self.entries[..self.len]
    }

    /// The TSC at kernel entry.
    pub fn entry_tsc(&self) -> u64 {
        arch::boot_entry_tsc()
    }
}

/// Formats as `name=<µs since entry>us ...`.
impl fmt::Display for Checkpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entry = self.entry_tsc();
        for (i, checkpoint) in self.as_slice().iter().enumerate() {
            let since_entry = clock::ticks_to_duration(checkpoint.tsc.saturating_sub(entry));
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{}={}us", checkpoint.name, since_entry.as_micros())?;
        }
        Ok(())
    }
}

static CHECKPOINTS: Mutex<Checkpoints> = Mutex::new(Checkpoints::new());

/// Records that bring-up step `name` is done, now.
pub fn record(name: &'static str) {
    let tsc = rdtsc();
    let mut checkpoints = CHECKPOINTS.lock();
    let len = checkpoints.len;
    if let Some(slot) = checkpoints.entries.get_mut(len) {
        *slot = Checkpoint { name, tsc };
        checkpoints.len += 1;
    }
}

/// A copy of the checkpoints recorded so far.
pub fn snapshot() -> Checkpoints {
    *CHECKPOINTS.lock()
}
