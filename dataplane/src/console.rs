//! Where elements' messages and `Script` output go.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

/// Where `Print`-style elements write their lines (stderr on the host, the serial console in
/// the VM).
pub trait Console {
    /// Writes one line (without its newline): messages, `Print`, `IPPrint`.
    fn write_line(&mut self, line: &str);

    /// Writes `text` as it is to the standard output, where Click's `Script` prints. A
    /// console with one stream (the VM's serial line, tests) writes it as lines.
    fn write_out(&mut self, text: &str) {
        for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            self.write_line(line);
        }
    }
}

/// A console that keeps every line: tests.
#[derive(Clone, Debug, Default)]
pub struct MemoryConsole(pub alloc::rc::Rc<RefCell<Vec<String>>>);

impl Console for MemoryConsole {
    fn write_line(&mut self, line: &str) {
        self.0.borrow_mut().push(line.into());
    }
}

/// Writes lines to standard error and `Script` output to standard output, as Click does.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct StderrConsole;

#[cfg(feature = "std")]
impl Console for StderrConsole {
    fn write_line(&mut self, line: &str) {
        std::eprintln!("{line}");
    }

    fn write_out(&mut self, text: &str) {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
