//! `sluice`: Click-style network functions, on the host and as tiny VMs.
//!
//! ```text
//! sluice check  fw.click                 parse and validate; all errors, file:line:col
//! sluice doc    [CLASS]                  an element class's manual, or every class
//! sluice graph  fw.click > fw.dot        the flattened graph as Graphviz DOT (or SVG)
//! sluice flatten fw.click                an equivalent configuration without compounds
//! sluice run    fw.click                 host mode: pcaps, TAP and AF_PACKET devices
//! sluice build  fw.click -o fw.elf       compile the network function into a VM image
//! sluice boot   fw.elf --nic tap:tap0    run it under QEMU microvm
//! sluice ps | stop NAME | ctl VM read c.count   manage running VMs
//! sluice logs  NAME [-f]               a VM's console
//! sluice bench  boot|density|e2e|hotconfig|tcp fw.elf the built-in measurements
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod check;
mod click_layout;
mod config;
mod doc;
mod json;
mod progress;
mod replay;
mod run;
mod vm;

/// Click-style network functions, on the host and as tiny VMs.
#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about,
    long_about = None,
    after_help = "Exit status:\n  \
        0  success (`sluice boot`: the VM's router stopped normally)\n  \
        1  failure: a configuration with errors (check, run, build), a VM or router that \
        ended on an error, a refused control request, a missing file or tool\n  \
        2  a bad command line (an unknown option, a missing argument)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and validate configurations; print every error with its position.
    Check(check::CheckArgs),
    /// Print an element class's manual; without a class, list every class.
    Doc(doc::DocArgs),
    /// Print the flattened element graph as Graphviz DOT or SVG.
    Graph(check::GraphArgs),
    /// Print an equivalent configuration with every compound element expanded.
    Flatten(check::FlattenArgs),
    /// Run a configuration on this host (pcap files, TAP and AF_PACKET devices).
    Run(run::RunArgs),
    /// Send a capture file's frames into a running VM and record what every NIC emits.
    Replay(replay::ReplayArgs),
    /// Compile a configuration into a bootable VM image.
    Build(vm::BuildArgs),
    /// Boot an image under QEMU microvm (or q35 with `--machine q35`).
    Boot(vm::BootArgs),
    /// Deploy an image on a VM engine: as a libvirt domain.
    Deploy(vm::DeployArgs),
    /// List running VMs.
    Ps(vm::PsArgs),
    /// Stop a running VM.
    Stop(vm::StopArgs),
    /// Read or write a handler of a running VM or `sluice run` (Click's ControlSocket protocol).
    Ctl(vm::CtlArgs),
    /// Print a VM's console log (`-f`: and follow it).
    Logs(vm::LogsArgs),
    /// Measure an image: boot time, density, throughput and latency.
    Bench(bench::BenchArgs),
    /// Print a shell completion script (`sluice completions bash > /etc/bash_completion.d/sluice`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check::check(args),
        Command::Doc(args) => doc::doc(args),
        Command::Graph(args) => check::graph(args),
        Command::Flatten(args) => check::flatten(args),
        Command::Run(args) => run::main(args),
        Command::Replay(args) => replay::main(args),
        Command::Build(args) => vm::build(args),
        Command::Boot(args) => vm::boot(args),
        Command::Deploy(args) => vm::deploy(args),
        Command::Ps(args) => vm::ps(args),
        Command::Stop(args) => vm::stop(args),
        Command::Ctl(args) => vm::ctl(args),
        Command::Logs(args) => vm::logs(args),
        Command::Bench(args) => bench::main(args),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            use std::io::Write;
            // Generated into memory first: the generator panics on a failed write (a
            // closed pipe), and a broken pipe is no error worth reporting.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "sluice", &mut script);
            match std::io::stdout().write_all(&script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("sluice completions: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
    }
}
