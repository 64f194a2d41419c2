//! A live status line for long operations (`sluice run`, `build`, `replay`): drawn on
//! standard error, redrawn in place, and only when standard error is a terminal, so logs
//! and scripts never see it. Results go to standard output as usual.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How long an operation runs before its status line first appears: quick ones stay quiet.
const FIRST_AFTER: Duration = Duration::from_secs(1);
/// How often the line is redrawn.
const EVERY: Duration = Duration::from_millis(500);

/// One status line.
#[derive(Debug)]
pub struct Status {
    enabled: bool,
    start: Instant,
    last: Option<Instant>,
    shown: bool,
}

impl Status {
    /// A status line, drawn only if standard error is a terminal.
    pub fn new() -> Self {
        Self::enabled_if(std::io::stderr().is_terminal())
    }

    /// A status line drawn only if `enabled`.
    pub fn enabled_if(enabled: bool) -> Self {
        Self {
            enabled,
            start: Instant::now(),
            last: None,
            shown: false,
        }
    }

    /// Whether a redraw is due now.
    pub fn due(&self) -> bool {
        self.enabled
            && self.start.elapsed() >= FIRST_AFTER
            && self.last.is_none_or(|t| t.elapsed() >= EVERY)
    }

    /// Redraws the line with `line()` if a redraw is due.
    pub fn tick(&mut self, line: impl FnOnce() -> String) {
        if self.due() {
            self.draw(&line());
        }
    }

    /// Draws `line` now (when enabled).
    pub fn draw(&mut self, line: &str) {
        if !self.enabled {
            return;
        }
        self.last = Some(Instant::now());
        self.shown = true;
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
    }

    /// Erases the line, so what follows starts on a clean one.
    pub fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for Status {
    fn drop(&mut self) {
        self.clear();
    }
}
