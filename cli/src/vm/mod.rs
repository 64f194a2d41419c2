//! The VM side of the CLI: `sluice build` (compile a configuration into a bootable image),
//! `sluice boot` (run it under QEMU microvm or q35), `sluice deploy libvirt` (run it as a
//! libvirt domain), `sluice ps` / `sluice stop` (the VMs this host runs), `sluice logs` (a
//! VM's console) and `sluice ctl` (read and write handlers of a running VM).
//!
//! Running VMs are recorded in the runtime directory (`$XDG_RUNTIME_DIR/sluice`, else
//! `/run/sluice` for root, else `/tmp/sluice-<uid>`): `<name>.vm` holds the VM's name,
//! QEMU's pid, the control socket, the image, the NICs and where the console goes;
//! `<name>.ctl` is the default control socket, `<name>.log` a detached VM's default console
//! log (`sluice logs NAME`) and `tsc_khz` the host's measured TSC frequency. When a VM
//! stops, its record and socket go; its log stays until a VM of the same name boots.

pub mod boot;
pub mod build;
pub mod ctl;
pub mod deploy;
pub mod image;
pub mod logs;
pub mod state;

use std::process::ExitCode;

pub use boot::{boot, BootArgs};
pub use build::{build, BuildArgs};
pub use ctl::{ctl, CtlArgs};
pub use deploy::{deploy, DeployArgs};
pub use logs::{logs, LogsArgs};
pub use state::{ps, stop, PsArgs, StopArgs};

/// QEMU's exit statuses for the guest's `isa-debug-exit` codes (`(code << 1) | 1`), as the
/// unikernel's `ExitCode` defines them.
pub mod guest_status {
    /// The router stopped normally.
    pub const SUCCESS: i32 = 1;
    /// The guest stopped on an error it reported.
    pub const FAILURE: i32 = 3;
    /// A Rust panic in the guest.
    pub const PANIC: i32 = 5;
    /// A CPU exception in the guest.
    pub const EXCEPTION: i32 = 7;
    /// The configuration was rejected at boot.
    pub const CONFIG_ERROR: i32 = 9;
}

/// Prints `sluice <cmd>: <message>` and returns failure.
pub(crate) fn fail(cmd: &str, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sluice {cmd}: {message}");
    ExitCode::FAILURE
}
