//! `sluice run`: the host runtime.
//!
//! Loads a configuration (`NAME=value` words after the file set its `$NAME` parameters),
//! builds the router over a packet pool, the system clock and the host's devices (TAP and
//! `AF_PACKET`, opened as elements ask for them), and runs it until it stops itself
//! (`FromDump(..., STOP true)`, `DriverManager`), runs out of work, or Ctrl-C (or SIGTERM).
//! Either way every element's cleanup runs, so `ToDump` files are complete.
//!
//! Like Click's `click -h`, `-h element.handler` prints handler values at exit: just the
//! value for one handler, `name:` lines and a blank line between them for several.
//!
//! Exit status: 0 on success, 1 when the configuration (or a `-h` handler) is in error.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::click_layout::{self, ErrorFormat, Phase};
use crate::config;
use crate::progress::Status;
use sluice_dataplane::clock::SystemClock;
use sluice_dataplane::console::StderrConsole;
use sluice_dataplane::control::server::{self, Server};
use sluice_dataplane::control::{Hotconfig, Live};
use sluice_dataplane::device::DeviceOpener;
use sluice_dataplane::{Clock, Environment, PacketPool, Router, SimClock};

/// Arguments of `sluice run`.
#[derive(Debug, clap::Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// The configuration file (`-` or none: standard input), then `NAME=value` settings for
    /// its `$NAME` parameters.
    #[arg(value_name = "FILE")]
    pub words: Vec<String>,

    /// The configuration file, as Click's `-f`.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "expression"
    )]
    pub file: Option<PathBuf>,

    /// The configuration itself, given on the command line (Click's `-e`).
    #[arg(short = 'e', long = "expression", value_name = "CONFIG")]
    pub expression: Option<String>,

    /// Print handler ELEMENT.HANDLER's value when the router stops (repeatable). Globs
    /// (`*.count`, `c.*`) name every matching handler of every matching element.
    #[arg(short = 'h', long = "handler", value_name = "ELEMENT.HANDLER")]
    pub handlers: Vec<String>,

    /// Quit, as Click's `-q`: set the router up and print the `-h` handlers, but do not run
    /// it.
    #[arg(short = 'q', long = "quit")]
    pub quit: bool,

    /// Write the flattened configuration to FILE (`-`: standard output), as Click's `-o`.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Exit with handler ELEMENT.HANDLER's value (an integer) as the status, as Click's `-x`.
    #[arg(short = 'x', long = "exit-handler", value_name = "ELEMENT.HANDLER")]
    pub exit_handler: Option<String>,

    /// Provide a writable `hotconfig` handler, as Click's `-R`: writing a configuration to
    /// it through a control socket (`sluice ctl SOCKET hotconfig FILE`) installs that
    /// configuration while the router runs. Elements of the same name carry their state
    /// over (a queue's packets, a NAT's mappings, a counter's counts: see each element's
    /// manual); a configuration that fails to load or initialize is refused with its
    /// errors and the running one goes on unchanged. Elements may write `hotconfig` too
    /// (a `Script`, a `DriverManager`, a client of a `ControlSocket` element): the new
    /// configuration is installed after the current scheduler slice, and its errors are
    /// printed here (the write itself succeeds).
    #[arg(short = 'R', long = "allow-reconfigure")]
    pub allow_reconfigure: bool,

    /// Accepted for Click's command line: warnings are printed all the same (`-w`).
    #[arg(short = 'w', long = "no-warnings", hide = true)]
    pub no_warnings: bool,

    /// Accepted for Click's command line: the router runs on one thread (`-j N`).
    #[arg(short = 'j', long = "threads", value_name = "N", hide = true)]
    pub threads: Option<u32>,

    /// Serve Click's ControlSocket protocol on the UNIX socket PATH while the router runs
    /// (`sluice ctl PATH read c.count`); the socket file is removed at exit. While it
    /// listens, the router keeps running when it runs out of work, until a `stop` handler
    /// call, a stopping element, or Ctrl-C.
    #[arg(long = "ctl", value_name = "PATH")]
    pub ctl: Option<PathBuf>,

    /// As `--ctl`, Click's `-u`: serve the control protocol on the UNIX socket PATH.
    #[arg(short = 'u', long = "unix-socket", value_name = "PATH")]
    pub unix_socket: Vec<PathBuf>,

    /// Serve the control protocol on TCP port PORT (`sluice ctl --port PORT`), as Click's
    /// `-p`, but on 127.0.0.1 only (Click listens on every address; a `ControlSocket(tcp,
    /// PORT)` element does too unless `LOCALHOST true`).
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub port: Vec<u16>,

    /// Refuse every write through `--ctl`, `-u` and `-p` sockets (530 Permission denied).
    #[arg(long = "ctl-read-only")]
    pub ctl_read_only: bool,

    /// Packet buffers in the pool (2 KiB each; besides them, 32 buffers of 64 KiB take
    /// frames that do not fit).
    #[arg(long, value_name = "N", default_value_t = 4096)]
    pub pool: usize,

    /// Print no progress line and no summary.
    #[arg(long)]
    pub quiet: bool,

    /// Print how long the router ran.
    #[arg(short = 't', long)]
    pub time: bool,

    /// Run on simulated time, as `click --simtime[=SECONDS]`: the clock starts at SECONDS (default
    /// 1000000000) and never waits: when only timers are left, it jumps to the next one.
    /// Timestamps a run makes up (ToDump stamping an ICMP error) are then the same every
    /// run, and the same as Click's.
    #[arg(
        long,
        value_name = "SECONDS",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1000000000"
    )]
    pub simtime: Option<f64>,

    /// How configuration errors are printed: `sluice` (file:line:col, the source line and a
    /// caret) or `click` (Click's userlevel driver's layout: `config:3: While configuring
    /// 'x :: Counter':`, indented messages, `Router could not be initialized!`).
    #[arg(
        long,
        value_name = "FORMAT",
        value_enum,
        env = "SLUICE_ERROR_FORMAT",
        default_value = "sluice"
    )]
    pub error_format: ErrorFormat,

    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Buffers of the pool's large class (64 KiB each, 2 MiB in all): captures with jumbo
/// frames, reassembled datagrams. Click carries packets of any length.
const LARGE_BUFFERS: usize = 32;

/// Rounds without work before the loop starts sleeping: a busy source rarely goes idle
/// for this long, and spinning keeps latency low when it does.
const SPIN_ROUNDS: u32 = 256;
/// How long an idle loop sleeps between rounds.
const IDLE_SLEEP: Duration = Duration::from_micros(50);

/// How often the control sockets are looked at while the router is busy.
const CTL_POLL: Duration = Duration::from_millis(1);

/// The control servers `--ctl`, `-u` and `-p` ask for.
fn control_servers(args: &RunArgs) -> Result<Vec<Server>, String> {
    let mut servers = Vec::new();
    for path in args.ctl.iter().chain(&args.unix_socket) {
        let s = Server::bind_unix(path, args.ctl_read_only).map_err(|e| {
            format!(
                "control socket {}: {}",
                path.display(),
                server::describe(&e)
            )
        })?;
        servers.push(s);
    }
    for &port in &args.port {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let s = Server::bind_tcp(addr, args.ctl_read_only)
            .map_err(|e| format!("control port {port}: {}", server::describe(&e)))?;
        servers.push(s);
    }
    Ok(servers)
}

/// The `hotconfig` handler of `sluice run -R`: parses and checks the text written to it as
/// `sluice run` does its file, and swaps it in.
struct HostHotconfig {
    classes: Vec<&'static sluice_dataplane::ElementClass>,
}

/// What the global `config` handler answers: the configuration as written, or under
/// `require(compact_config)` the router printed back as Click prints it.
fn configuration_text(graph: &sluice_dataplane::sluice_config::FlatGraph, text: &str) -> String {
    if sluice_dataplane::sluice_config::requires_compact_config(graph) {
        sluice_dataplane::sluice_config::unparse_click(graph)
    } else {
        text.to_string()
    }
}

impl Hotconfig for HostHotconfig {
    fn hotconfig(&self, router: &mut Router, text: &str) -> Result<(), String> {
        let source = sluice_dataplane::sluice_config::Source::new("hotconfig", text.to_string());
        let loaded = match config::load_source_with(source, &[], config::Unused::Ignore) {
            Ok(l) => l,
            Err(config::LoadError::Config(r)) => return Err(config::render(&r.diags, &r.sources)),
            Err(e) => return Err(e.to_string()),
        };
        match router.hotswap(&loaded.graph, &self.classes) {
            Ok(warnings) => {
                router.set_configuration(configuration_text(&loaded.graph, text));
                for w in warnings {
                    eprintln!("sluice run: hotconfig: warning: {w}");
                }
                Ok(())
            }
            Err(d) => Err(config::render(&d, &loaded.sources)),
        }
    }
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("sluice run: {msg}");
    ExitCode::from(1)
}

/// Counts packets entering the graph, for the progress line: the `count` handlers of
/// source elements (no inputs) where they have one, else what the devices received.
struct Intake {
    sources: Vec<String>,
}

impl Intake {
    fn new(router: &Router) -> Self {
        let sources = router
            .element_names()
            .filter(|n| {
                router
                    .read_handler(&format!("{n}.ports"))
                    .is_ok_and(|p| p.starts_with("0 input"))
                    && router.read_handler(&format!("{n}.count")).is_ok()
            })
            .map(|n| format!("{n}.count"))
            .collect();
        Self { sources }
    }

    fn packets(&self, router: &Router) -> u64 {
        if self.sources.is_empty() {
            return router.devices().map(|d| d.stats().rx_packets).sum();
        }
        self.sources
            .iter()
            .filter_map(|h| router.read_handler(h).ok())
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .sum()
    }
}

/// The live `packets, packets/s` line on a terminal.
struct Progress {
    intake: Intake,
    status: Status,
    last: Instant,
    last_packets: u64,
}

impl Progress {
    fn tick(&mut self, router: &Router, now: Instant) {
        if !self.status.due() {
            return;
        }
        let packets = self.intake.packets(router);
        let dt = now.duration_since(self.last).as_secs_f64();
        let rate = (packets - self.last_packets.min(packets)) as f64 / dt;
        self.last = now;
        self.last_packets = packets;
        self.status
            .draw(&format!("{packets} packets in, {} packets/s", human(rate)));
    }
}

/// Says where the run's capture and trace files went (`ToDump`, `ToIPSummaryDump`), with
/// absolute paths: relative names are relative to the current directory, as in Click.
fn report_written(router: &Router, graph: &sluice_dataplane::sluice_config::FlatGraph) {
    for e in &graph.elements {
        if !WRITERS.contains(&e.class.as_str()) {
            continue;
        }
        use sluice_dataplane::sluice_config::args;
        let read = |h: &str| router.read_handler(&format!("{}.{h}", e.name)).ok();
        // The `filename` handler where the class has one, else its first argument.
        let file = read("filename").map(|f| f.trim().to_string()).or_else(|| {
            args::split(&e.config, e.config_span)
                .first()
                .filter(|a| args::keyword(a.text).is_none())
                .map(|a| a.text.to_string())
        });
        let Some(file) = file else {
            continue;
        };
        if file.is_empty() || file == "-" || file == "<stdout>" {
            continue;
        }
        let path = std::path::absolute(&file).unwrap_or_else(|_| file.clone().into());
        let count = read("count").map_or("?".into(), |c| c.trim().to_string());
        let unit = if count == "1" { "packet" } else { "packets" };
        eprintln!(
            "sluice run: {} wrote {count} {unit} to {}",
            e.name,
            path.display()
        );
    }
}

/// Element classes that write a file named by their first argument and count what they
/// wrote (`count`).
const WRITERS: &[&str] = &["ToDump", "ToIPSummaryDump"];

fn human(rate: f64) -> String {
    if rate >= 1e6 {
        format!("{:.2}M", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1}k", rate / 1e3)
    } else {
        format!("{rate:.0}")
    }
}

/// Installs the Ctrl-C handler: the first interrupt stops the router cleanly (cleanup runs,
/// files are flushed); a second one exits at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let installed = ctrlc::set_handler(move || {
        if f.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        eprintln!(
            "sluice run: warning: cannot catch Ctrl-C ({e}); it will end the run without cleanup"
        );
    }
    flag
}

/// Prints handler values the way `click -h` does. Returns false if any failed.
/// The `-h` names with globs (`*`, `?`) expanded, as Click's driver expands them: every
/// readable handler of every element, in configuration order, whose `ELEMENT.HANDLER`
/// matches. A name without a glob must name an existing element.
fn expand_handlers(router: &Router, patterns: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for h in patterns {
        let globbed = h.contains(['*', '?']);
        let Some((elem, name)) = h.rsplit_once('.') else {
            out.push(h.clone());
            continue;
        };
        if !globbed {
            if !router.element_names().any(|n| n == elem) {
                return Err(format!("-h {h}: no element named '{elem}'"));
            }
            out.push(h.clone());
            continue;
        }
        let before = out.len();
        let names: Vec<String> = router.element_names().map(String::from).collect();
        for e in names.iter().filter(|e| glob(elem, e)) {
            let list = router
                .read_handler(&format!("{e}.handlers"))
                .unwrap_or_default();
            for line in list.lines() {
                let (hname, mode) = line.split_once('\t').unwrap_or((line, "r"));
                if mode.contains('r') && glob(name, hname) {
                    out.push(format!("{e}.{hname}"));
                }
            }
        }
        if out.len() == before {
            return Err(format!("-h {h}: no handler matches"));
        }
    }
    Ok(out)
}

/// Shell-style matching of `*` (any run) and `?` (any one character).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

fn print_handlers(router: &Router, handlers: &[String]) -> bool {
    let named = handlers.len() > 1;
    let mut ok = true;
    let mut out = std::io::stdout().lock();
    for h in handlers {
        match router.read_handler(h) {
            Ok(mut v) => {
                if !v.ends_with('\n') {
                    v.push('\n');
                }
                let _ = if named {
                    write!(out, "{h}:\n{v}\n")
                } else {
                    write!(out, "{v}")
                };
            }
            Err(e) => {
                let _ = out.flush();
                eprintln!("sluice run: {h}: {e}");
                ok = false;
            }
        }
    }
    let _ = out.flush();
    ok
}

/// Runs a configuration on the host.
pub fn main(args: RunArgs) -> ExitCode {
    if args.pool == 0 {
        return fail("--pool must be at least 1");
    }
    // As Click's driver: NAME=value words anywhere, the one other word is the file (or `-f`
    // or `-e`); no file is standard input.
    let (params, files): (Vec<String>, Vec<String>) = args
        .words
        .iter()
        .cloned()
        .partition(|w| config::is_param(w));
    if files.len() > 1 || (files.len() == 1 && (args.file.is_some() || args.expression.is_some())) {
        return fail(format!(
            "more than one configuration: {} (give one file, -f FILE or -e CONFIG)",
            files.join(", ")
        ));
    }
    let file: Option<PathBuf> = match (&args.file, &args.expression, files.first()) {
        (Some(f), _, _) => Some(f.clone()),
        (None, Some(_), _) => None,
        (None, None, Some(f)) => Some(f.into()),
        (None, None, None) => Some("-".into()),
    };
    // Click's driver ignores a NAME=value the configuration never uses; a person at a
    // terminal is told (a script's standard error stays as Click's would be).
    let unused = if std::io::stderr().is_terminal() {
        config::Unused::Warn
    } else {
        config::Unused::Ignore
    };
    let loaded = match file {
        Some(f) => config::load_with(&f, &params, unused),
        None => config::load_source_with(
            sluice_dataplane::sluice_config::Source::new(
                click_layout::EXPRESSION_NAME,
                args.expression.clone().unwrap_or_default(),
            ),
            &params,
            unused,
        ),
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(config::LoadError::Config(r)) => {
            match args.error_format {
                ErrorFormat::Sluice => eprint!("{}", config::render(&r.diags, &r.sources)),
                ErrorFormat::Click => eprint!(
                    "{}",
                    click_layout::render(&r.diags, &r.sources, r.graph.as_ref(), Phase::Load)
                ),
            }
            return ExitCode::from(1);
        }
        Err(e) => return fail(e),
    };
    let (sources, graph) = (loaded.sources, loaded.graph);
    if let Some(out) = &args.output {
        let text = sluice_dataplane::sluice_config::unparse(&graph);
        let written = if out == Path::new("-") {
            use std::io::Write as _;
            let mut o = std::io::stdout().lock();
            o.write_all(text.as_bytes()).and_then(|()| o.flush())
        } else {
            std::fs::write(out, text)
        };
        if let Err(e) = written {
            return fail(format!("-o {}: {}", out.display(), config::io_message(&e)));
        }
    }
    let classes = sluice_elements::all_classes();
    let hotconfig = args.allow_reconfigure.then(|| HostHotconfig {
        classes: classes.clone(),
    });

    let opener: DeviceOpener = Box::new(sluice_drivers::host::open_host_device);
    let sim = match args.simtime {
        Some(s) if (0.0..1.8e10).contains(&s) => Some(SimClock::new((s * 1e9).round() as u64)),
        Some(s) => return fail(format!("--simtime {s}: expected seconds from 0 to 1.8e10")),
        None => None,
    };
    let clock: Box<dyn Clock> = match &sim {
        Some(c) => Box::new(c.clone()),
        None => Box::new(SystemClock),
    };
    let env = Environment {
        pool: PacketPool::with_large(args.pool, LARGE_BUFFERS),
        clock,
        devices: Vec::new(),
        device_opener: Some(opener),
        console: Box::new(StderrConsole),
    };
    let mut router = match Router::new(&graph, &classes, env) {
        Ok(mut r) => {
            if let Some(main) = sources.first() {
                r.set_configuration(configuration_text(&graph, &main.text));
            }
            r.allow_hotconfig(args.allow_reconfigure);
            r
        }
        Err(d) => {
            match args.error_format {
                ErrorFormat::Sluice => eprint!("{}", config::render(&d, &sources)),
                ErrorFormat::Click => eprint!(
                    "{}",
                    click_layout::render(&d, &sources, Some(&graph), Phase::Initialize)
                ),
            }
            return ExitCode::from(1);
        }
    };

    // Catch misspelt element names now rather than after a long run.
    let handlers = match expand_handlers(&router, &args.handlers) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    if args.quit {
        router.cleanup();
        return if print_handlers(&router, &handlers) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }

    let mut servers = match control_servers(&args) {
        Ok(s) => s,
        Err(e) => {
            router.cleanup();
            return fail(e);
        }
    };
    let mut next_ctl_poll = Instant::now();

    let interrupted = interrupt_flag();
    let mut progress = (!args.quiet && std::io::stderr().is_terminal()).then(|| Progress {
        intake: Intake::new(&router),
        status: Status::new(),
        last: Instant::now(),
        last_packets: 0,
    });
    let start = Instant::now();
    let mut idle_rounds = 0u32;
    let mut rounds = 0u64;
    loop {
        let mut round = router.run_slice();
        // A configuration an element wrote to `hotconfig` (`Script`, `DriverManager`):
        // installed now, before the old router's stop requests count, as Click's driver
        // swaps routers; its errors go to standard error.
        if let (Some(text), Some(hot)) = (router.take_hotconfig(), hotconfig.as_ref()) {
            match hot.hotconfig(&mut router, &text) {
                // The round was the old router's: the new one has yet to run.
                Ok(()) => {
                    round = sluice_dataplane::Round {
                        busy: true,
                        active: true,
                    }
                }
                Err(e) => eprint!("sluice run: hotconfig: {e}"),
            }
        }
        if interrupted.load(Ordering::Relaxed) || router.is_stopped() {
            break;
        }
        if !servers.is_empty() {
            // Between slices, every CTL_POLL:
            // a client's handler calls run here, outside any element.
            let now = Instant::now();
            if now >= next_ctl_poll {
                next_ctl_poll = now + CTL_POLL;
                // A `hotconfig` write replaces the router here, between slices: every
                // packet pushed has reached its end, queues hand theirs to their successors.
                let live = Live::new(&mut router, hotconfig.as_ref().map(|h| h as &dyn Hotconfig));
                for s in &mut servers {
                    round.busy |= s.poll(&live);
                }
            }
            // A router with a control socket waits for its clients when out of work.
            if router.is_stopped() {
                break;
            }
        } else if !round.active {
            break;
        }
        rounds += 1;
        if round.busy {
            idle_rounds = 0;
        } else if let Some(sim) = &sim {
            // Simulated time never waits: once a slice found nothing to do (the one after
            // timers fired runs the tasks they woke), on to the next timer, if any. A router
            // that waits only for devices polls them as usual.
            idle_rounds = idle_rounds.saturating_add(1);
            match router.next_deadline() {
                Some(at) if idle_rounds >= 2 => {
                    sim.advance_to(at);
                    // Click's driver reads the time again to see the timer is due.
                    sim.fresh_ns();
                    router.fire_due_timers();
                    idle_rounds = 0;
                }
                Some(_) => {}
                None if idle_rounds > SPIN_ROUNDS => std::thread::sleep(IDLE_SLEEP),
                None => {}
            }
        } else {
            idle_rounds = idle_rounds.saturating_add(1);
            if idle_rounds > SPIN_ROUNDS {
                std::thread::sleep(IDLE_SLEEP);
            }
        }
        if let Some(p) = progress.as_mut() {
            if rounds & 63 == 0 || idle_rounds > SPIN_ROUNDS {
                p.tick(&router, Instant::now());
            }
        }
    }
    drop(servers);
    router.cleanup();
    let elapsed = start.elapsed();
    if let Some(p) = progress.as_mut() {
        p.status.clear();
    }
    if interrupted.load(Ordering::Relaxed) && !args.quiet {
        eprintln!("sluice run: interrupted; outputs flushed");
    }
    if args.time {
        eprintln!("sluice run: {:.3} s", elapsed.as_secs_f64());
    }
    // On a terminal (a person, not a script comparing output with Click's).
    if !args.quiet && std::io::stderr().is_terminal() {
        report_written(&router, &graph);
    }
    if !print_handlers(&router, &handlers) {
        return ExitCode::from(1);
    }
    match &args.exit_handler {
        None => ExitCode::SUCCESS,
        Some(h) => match router.read_handler(h) {
            Ok(v) => match v.trim().parse::<i64>() {
                Ok(n) => ExitCode::from((n & 0xff) as u8),
                Err(_) => fail(format!("-x {h}: '{}' is not an integer", v.trim())),
            },
            Err(e) => fail(format!("-x {h}: {e}")),
        },
    }
}
