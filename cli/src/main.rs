//! `sluice`: Click-style network functions, on the host and as tiny VMs.
//!
//! ```text
//! sluice check  fw.click                 parse and validate; all errors, file:line:col
//! sluice graph  fw.click > fw.dot        the flattened graph as Graphviz DOT (or SVG)
//! sluice flatten fw.click                an equivalent configuration without compounds
//! sluice run    fw.click                 host mode: pcaps, TAP and AF_PACKET devices
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod check;
mod config;
mod run;

/// Click-style network functions, on the host and as tiny VMs.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and validate configurations; print every error with its position.
    Check(check::CheckArgs),
    /// Print the flattened element graph as Graphviz DOT or SVG.
    Graph(check::GraphArgs),
    /// Print an equivalent configuration with every compound element expanded.
    Flatten(check::FlattenArgs),
    /// Run a configuration on this host (pcap files, TAP and AF_PACKET devices).
    Run(run::RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::check(args),
        Command::Graph(args) => check::graph(args),
        Command::Flatten(args) => check::flatten(args),
        Command::Run(args) => run::main(args),
    }
}
