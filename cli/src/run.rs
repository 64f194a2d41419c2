//! `sluice run`: the host runtime.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `sluice run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The configuration file (`-` for standard input).
    pub file: PathBuf,
}

/// Runs a configuration on the host.
pub fn main(args: RunArgs) -> ExitCode {
    eprintln!("sluice run: {}: the host runtime is not built yet", args.file.display());
    ExitCode::from(2)
}
