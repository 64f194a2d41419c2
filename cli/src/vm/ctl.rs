//! `sluice ctl TARGET read ELEMENT.HANDLER` / `write ELEMENT.HANDLER VALUE`: a client of
//! Click's ControlSocket protocol ([`sluice_dataplane::control`]), for a VM's control channel
//! (the unikernel's `control` module; it greets when a session's first byte arrives) and for
//! a host router's control socket (`sluice run --ctl PATH` or `-p PORT`, a `ControlSocket`
//! element, or Click itself; these greet when the client connects).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use sluice_dataplane::control;

use super::fail;
use super::state::{runtime_dir, VmRecord};
use crate::json::Json;

/// Arguments of `sluice ctl`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    sluice ctl fw read c.count             a VM, by name (see `sluice ps`)\n  \
    sluice ctl ./run.sock read c.count     a `sluice run --ctl ./run.sock` process\n  \
    sluice ctl --port 7777 write src.active false\n  \
    sluice ctl ./run.sock hotconfig fw2.click   install a new configuration (`sluice run -R`)\n  \
    sluice ctl fw hotconfig fw2.click      the same in a VM (classes of its image only)")]
pub struct CtlArgs {
    /// A VM's name (see `sluice ps`), or the path of a control socket: a VM's, or one that
    /// `sluice run --ctl` or a `ControlSocket` element listens on.
    #[arg(value_name = "VM|SOCKET", required_unless_present_any = ["socket", "port"])]
    pub vm: Option<String>,
    /// The UNIX control socket of a host process (`sluice run --ctl PATH`,
    /// `ControlSocket(unix, PATH)`, `click -u PATH`).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["vm", "port"])]
    pub socket: Option<PathBuf>,
    /// A TCP control socket: PORT (on 127.0.0.1) or HOST:PORT (`sluice run -p PORT`,
    /// `ControlSocket(tcp, PORT)`).
    #[arg(long, value_name = "[HOST:]PORT", conflicts_with = "vm")]
    pub port: Option<String>,
    #[command(subcommand)]
    pub op: CtlOp,
    /// How long to wait for each answer.
    #[arg(long, default_value = "5s", value_parser = super::state::parse_duration)]
    pub timeout: Duration,
    /// Print one JSON object on standard output instead: `{"handler": H, "value": V}` for
    /// a read (V as the handler gave it), `{"handler": H, "status": "ok"}` for a write or
    /// a hotconfig (with `"file"`), and `{"error": {"code": C, "message": M}}` on failure,
    /// C being the control socket's status code (510 no such element, 511 no such handler,
    /// 520 refused...) or null when no answer came. The exit status is as without it.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What to do.
#[derive(Debug, clap::Subcommand)]
pub enum CtlOp {
    /// Print a read handler's value (`c.count`, `eth0.rx_packets`, `pool_free`, `list`).
    Read {
        /// ELEMENT.HANDLER, or a global handler.
        handler: String,
    },
    /// Call a write handler (`c.reset`, `stop`).
    Write {
        /// ELEMENT.HANDLER, or a global handler.
        handler: String,
        /// The value (several words are joined with spaces).
        value: Vec<String>,
    },
    /// Install a new configuration in a running router (Click's `hotconfig` handler): a
    /// VM's, or a host process's run with `-R`. The file is checked here first, as
    /// `sluice check` does, and nothing is sent if it has errors. A VM gets it prepared
    /// as `sluice build` prepares an image's, and only if its image has every element
    /// class it uses. The router then builds the new
    /// configuration beside the running one; elements of the same name carry their state
    /// over (a queue's packets, a NAT's mappings, a counter's counts); if it fails to
    /// initialize, the running configuration goes on unchanged and the errors are printed.
    Hotconfig {
        /// The new configuration file (`-`: standard input), then `NAME=value` settings
        /// for its `$NAME` parameters.
        #[arg(required = true, value_name = "FILE")]
        words: Vec<String>,
    },
}

/// A request to the control channel.
#[derive(Debug, Clone)]
pub enum Request {
    /// Read a handler.
    Read(String),
    /// Write a handler.
    Write(String, String),
    /// Write bytes to a handler with `WRITEDATA`, as they are (a VM's `hotconfig`).
    WriteData(String, Vec<u8>),
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    /// No socket, or nobody listening.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The connection broke or timed out.
    #[error("control channel: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered with an error code.
    #[error("{code} {message}")]
    Refused {
        /// ControlSocket status code (510 no such element, 511 no such handler, ...).
        code: u16,
        /// The message.
        message: String,
    },
    /// Not the ControlSocket protocol.
    #[error("unexpected answer from the control socket: {0:?}")]
    Protocol(String),
}

/// Where a control server listens, and how it greets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A VM's control channel: greets when a session's first byte arrives.
    Vm(PathBuf),
    /// A host process's UNIX socket: greets on connect.
    Unix(PathBuf),
    /// A host process's TCP socket: greets on connect.
    Tcp(SocketAddr),
}

/// Finds the control socket of `vm`: a VM name, or a path to a socket (a VM's when a
/// running VM records it as its control socket, otherwise a host process's).
pub fn resolve_target(vm: &str) -> Result<Target, String> {
    let path = Path::new(vm);
    if vm.contains('/') || path.exists() {
        let is_vm = runtime_dir().is_ok_and(|dir| {
            let me = path.canonicalize().unwrap_or_else(|_| path.into());
            VmRecord::all(&dir).iter().any(|r| {
                r.control
                    .canonicalize()
                    .unwrap_or_else(|_| r.control.clone())
                    == me
            })
        });
        return Ok(if is_vm {
            Target::Vm(path.into())
        } else {
            Target::Unix(path.into())
        });
    }
    let dir = runtime_dir().map_err(|e| format!("runtime directory: {e}"))?;
    VmRecord::load(&dir, vm)
        .filter(VmRecord::alive)
        .map(|r| Target::Vm(r.control))
        .ok_or_else(|| format!("no running VM named '{vm}' (see `sluice ps`)"))
}

/// Parses `--port`: PORT (on 127.0.0.1) or HOST:PORT.
pub fn tcp_target(spec: &str) -> Result<Target, String> {
    let spec = if spec.bytes().all(|b| b.is_ascii_digit()) {
        format!("127.0.0.1:{spec}")
    } else {
        spec.into()
    };
    spec.to_socket_addrs()
        .map_err(|e| format!("--port {spec}: {e}"))?
        .next()
        .map(Target::Tcp)
        .ok_or_else(|| format!("--port {spec}: no address"))
}

/// Sends one request and returns the read value (empty for writes).
pub fn call(socket: &Path, request: &Request) -> Result<String, CtlError> {
    call_with_timeout(socket, request, Duration::from_secs(5))
}

/// As [`call`], waiting at most `timeout` for each answer.
pub fn call_with_timeout(
    socket: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<String, CtlError> {
    let stream = UnixStream::connect(socket).map_err(|source| CtlError::Connect {
        path: socket.into(),
        source,
    })?;
    stream.set_read_timeout(Some(timeout))?;
    let mut writer = stream.try_clone()?;
    // A leading QUIT ends a session an earlier client may have left open, so the command
    // below always opens a fresh one and its answer follows a greeting.
    let mut command = control::QUIT.as_bytes().to_vec();
    command.extend(request.bytes());
    command.extend_from_slice(control::QUIT.as_bytes());
    writer.write_all(&command)?;
    let mut reader = BufReader::new(stream);
    // Skip what is not ours (output left from an earlier session, the leading QUIT's
    // goodbye): the answer is the first status line after a greeting that is not a goodbye.
    let mut greeted = false;
    let mut lines = Vec::new();
    let (code, message) = loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(CtlError::Protocol(
                "connection closed before an answer".into(),
            ));
        }
        if line.starts_with("Click::ControlSocket/") {
            greeted = true;
            continue;
        }
        let Some(reply) = control::parse_reply(&line) else {
            continue;
        };
        if !greeted || reply.message == "Goodbye!" {
            continue;
        }
        lines.push(reply.message.to_string());
        if !reply.more {
            break (reply.code, reply_message(&lines));
        }
    };
    let result = answer(&mut reader, request, code, message);
    drain_goodbye(&mut reader);
    result
}

/// A reply's message from its lines: `Summary: first line`, then any further lines as
/// they came (a configuration's diagnostics, each with its source line and caret).
fn reply_message(lines: &[String]) -> String {
    let mut message = lines[..lines.len().min(2)].join(" ");
    for l in lines.iter().skip(2) {
        message.push('\n');
        message.push_str(l);
    }
    message
}

/// After a reply's last status line: the error, or the read's value.
fn answer(
    reader: &mut impl BufRead,
    request: &Request,
    code: u16,
    message: String,
) -> Result<String, CtlError> {
    if !(200..300).contains(&code) {
        return Err(CtlError::Refused { code, message });
    }
    if let Request::Write(..) | Request::WriteData(..) = request {
        return Ok(String::new());
    }
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let n = control::parse_data(&line).ok_or_else(|| CtlError::Protocol(line.trim_end().into()))?;
    let mut data = vec![0u8; n];
    reader.read_exact(&mut data)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

impl Request {
    /// The command line(s), and data, that make the request.
    fn bytes(&self) -> Vec<u8> {
        match self {
            Request::Read(h) => control::read_request(h).into_bytes(),
            Request::Write(h, v) => control::write_request(h, v).into_bytes(),
            Request::WriteData(h, data) => {
                let mut out = format!("WRITEDATA {h} {}\r\n", data.len()).into_bytes();
                out.extend_from_slice(data);
                out
            }
        }
    }
}

/// Sends one request to `target` and returns the read value (empty for writes).
pub fn call_target(
    target: &Target,
    request: &Request,
    timeout: Duration,
) -> Result<String, CtlError> {
    match target {
        Target::Vm(path) => call_with_timeout(path, request, timeout),
        Target::Unix(path) => {
            let stream = UnixStream::connect(path).map_err(|source| CtlError::Connect {
                path: path.clone(),
                source,
            })?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            let writer = stream.try_clone()?;
            call_greeting_first(stream, writer, request)
        }
        Target::Tcp(addr) => {
            let stream =
                TcpStream::connect_timeout(addr, timeout).map_err(|source| CtlError::Connect {
                    path: addr.to_string().into(),
                    source,
                })?;
            stream.set_read_timeout(Some(timeout))?;
            stream.set_write_timeout(Some(timeout))?;
            let writer = stream.try_clone()?;
            call_greeting_first(stream, writer, request)
        }
    }
}

/// A server that greets on connect: read the greeting, send the request and `QUIT`, read
/// the answer.
fn call_greeting_first(
    stream: impl Read,
    mut writer: impl Write,
    request: &Request,
) -> Result<String, CtlError> {
    let mut reader = BufReader::new(stream);
    let mut greeting = String::new();
    reader.read_line(&mut greeting)?;
    if !greeting.starts_with("Click::ControlSocket/") {
        return Err(CtlError::Protocol(if greeting.is_empty() {
            "no greeting (closed)".into()
        } else {
            greeting.trim_end().into()
        }));
    }
    let mut command = request.bytes();
    command.extend_from_slice(control::QUIT.as_bytes());
    writer.write_all(&command)?;
    let mut lines = Vec::new();
    let (code, message) = loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(CtlError::Protocol(
                "connection closed before an answer".into(),
            ));
        }
        let reply = control::parse_reply(&line)
            .ok_or_else(|| CtlError::Protocol(line.trim_end().into()))?;
        lines.push(reply.message.to_string());
        if !reply.more {
            break (reply.code, reply_message(&lines));
        }
    };
    answer(&mut reader, request, code, message)
}

/// Reads up to the answer to the closing QUIT, so no output of this session is left for
/// the next client.
fn drain_goodbye(reader: &mut impl BufRead) {
    let mut line = String::new();
    while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
        if line.trim_end().ends_with("Goodbye!") {
            break;
        }
        line.clear();
    }
}

/// `FILE [NAME=value...]` of a `hotconfig`: the file, the parameters, and the
/// configuration loaded and checked as `sluice check` does. `Err` is ready to print.
fn load_hotconfig(
    words: &[String],
) -> Result<(String, Vec<String>, crate::config::Loaded), String> {
    let (params, files): (Vec<String>, Vec<String>) = words
        .iter()
        .cloned()
        .partition(|w| crate::config::is_param(w));
    let [file] = &files[..] else {
        return Err(format!(
            "sluice ctl: hotconfig: give one configuration file (got {})\n",
            files.len()
        ));
    };
    let loaded = crate::config::load(Path::new(file), &params).map_err(|e| {
        let mut m = e.to_string();
        if !m.ends_with('\n') {
            m.push('\n');
        }
        m
    })?;
    Ok((file.clone(), params, loaded))
}

/// The text to write to `hotconfig` for `FILE [NAME=value...]`, checked as `sluice check`
/// checks it; `Err` holds every diagnostic, ready to print. A self-contained file without
/// parameters goes as written (the router's `config` handler then shows it); otherwise
/// the flattened configuration, with the parameters and included files resolved. Returns
/// the text and, when it went as written, the file's name.
fn hotconfig_text(words: &[String]) -> Result<(String, Option<String>), String> {
    let (file, params, loaded) = load_hotconfig(words)?;
    Ok(match &loaded.sources[..] {
        [only] if params.is_empty() => (only.text.clone(), Some(file)),
        _ => (
            sluice_dataplane::sluice_config::unparse(&loaded.graph),
            None,
        ),
    })
}

/// What to write to a VM's `hotconfig` for `FILE [NAME=value...]`: the configuration
/// loaded and checked as `sluice check` does, refused as `sluice build` refuses what cannot
/// run in a VM, instantiated on the host with stand-in NICs, then flattened and prepared
/// as `sluice build` prepares an image's ([`PreparedConfig::from_flat`]) and encoded.
/// `image_classes` gives the classes the VM's image carries (its `classes` handler), asked
/// once the file has loaded: a configuration that uses others is refused here, with their
/// names. `Err` is ready to print.
///
/// [`PreparedConfig::from_flat`]: sluice_dataplane::prepared::PreparedConfig::from_flat
fn vm_hotconfig_data(
    words: &[String],
    image_classes: impl FnOnce() -> Result<String, String>,
) -> Result<Vec<u8>, String> {
    use sluice_dataplane::prepared::PreparedConfig;

    let (file, _, loaded) = load_hotconfig(words)?;
    let refuse = |m: String| format!("sluice ctl: hotconfig: {file}: {m}\n");
    super::build::check_vm_classes(&loaded.graph).map_err(refuse)?;
    let image_classes = image_classes().map_err(|e| format!("sluice ctl: hotconfig: {e}\n"))?;
    let have: Vec<&str> = image_classes.lines().map(str::trim).collect();
    let mut missing: Vec<(&str, Vec<&str>)> = Vec::new();
    for e in &loaded.graph.elements {
        if have.contains(&e.class.as_str()) {
            continue;
        }
        match missing.iter_mut().find(|(c, _)| *c == e.class) {
            Some((_, names)) => names.push(&e.name),
            None => missing.push((&e.class, vec![&e.name])),
        }
    }
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|(class, names)| format!("{class} ({})", names.join(", ")))
            .collect();
        return Err(refuse(format!(
            "the VM's image has no element class {}; an image carries only the classes of \
             the configuration it was built from ({}). Build an image from this file \
             (`sluice build {file}`) and boot it instead",
            list.join(", "),
            have.join(", ")
        )));
    }
    super::build::instantiate(&loaded)?;
    let flat = sluice_dataplane::sluice_config::unparse(&loaded.graph);
    let name = Path::new(&file)
        .file_name()
        .map_or_else(|| "hotconfig".into(), |n| n.to_string_lossy().into_owned());
    let name = format!("{name} (flattened)");
    let prepared = PreparedConfig::from_flat(&name, &flat, &sluice_elements::all_classes())
        .map_err(|diags| {
            let source = sluice_dataplane::sluice_config::Source::new(name.clone(), flat.clone());
            diags.render(std::slice::from_ref(&source))
        })?;
    Ok(prepared.encode())
}

/// A successful answer as `sluice ctl --json` prints it: the value for a read, the status
/// for a write; `file` is the configuration a hotconfig installed.
fn answer_json(request: &Request, file: Option<&str>, value: &str) -> Json {
    match request {
        Request::Read(handler) => Json::obj([
            ("handler", Json::str(handler.as_str())),
            ("value", Json::str(value)),
        ]),
        Request::Write(handler, _) | Request::WriteData(handler, _) => {
            let mut pairs = vec![
                ("handler".to_string(), Json::str(handler.as_str())),
                ("status".to_string(), Json::str("ok")),
            ];
            if let Some(file) = file {
                pairs.push(("file".into(), Json::str(file)));
            }
            Json::Obj(pairs)
        }
    }
}

/// A failure as `sluice ctl --json` prints it: the control socket's status code, or null
/// when the request got no answer (no socket, a broken connection, a file refused here).
fn error_json(code: Option<u16>, message: &str) -> Json {
    Json::obj([(
        "error",
        Json::obj([
            ("code", code.map_or(Json::Null, Json::num)),
            ("message", Json::str(message.trim_end())),
        ]),
    )])
}

/// `sluice ctl`.
pub fn ctl(args: CtlArgs) -> ExitCode {
    let json = args.json;
    // Fails with `message` (already prefixed and ended when `printed`), or its JSON.
    let failed = |code: Option<u16>, message: String, printed: bool| {
        if json {
            println!("{}", error_json(code, &message));
            ExitCode::FAILURE
        } else if printed {
            eprint!("{message}");
            ExitCode::FAILURE
        } else {
            fail("ctl", message)
        }
    };
    let target = match (&args.socket, &args.port, &args.vm) {
        (Some(path), _, _) => Ok(Target::Unix(path.clone())),
        (None, Some(port), _) => tcp_target(port),
        (None, None, Some(vm)) => resolve_target(vm),
        (None, None, None) => Err("give a VM, a socket path, --socket or --port".into()),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => return failed(None, e, false),
    };
    // The file a `hotconfig` sent as written: the router's diagnostics name it for
    // `hotconfig`, with the file's own lines and columns.
    let mut renamed = None;
    // The file a `hotconfig` installs, as given.
    let mut hotconfig_file = None;
    let request = match args.op {
        CtlOp::Read { handler } => Request::Read(handler),
        CtlOp::Write { handler, value } => Request::Write(handler, value.join(" ")),
        CtlOp::Hotconfig { words } if matches!(target, Target::Vm(_)) => {
            hotconfig_file = words.iter().find(|w| !crate::config::is_param(w)).cloned();
            // A VM parses no Click text: it takes the configuration prepared here, and
            // only with the classes its image carries.
            let classes = || {
                call_target(&target, &Request::Read("classes".into()), args.timeout)
                    .map_err(|e| format!("asking the VM for its element classes: {e}"))
            };
            match vm_hotconfig_data(&words, classes) {
                Ok(data) => Request::WriteData(control::HOTCONFIG.into(), data),
                Err(e) => return failed(None, e, true),
            }
        }
        CtlOp::Hotconfig { words } => {
            hotconfig_file = words.iter().find(|w| !crate::config::is_param(w)).cloned();
            match hotconfig_text(&words) {
                Ok((text, file)) => {
                    renamed = file;
                    Request::Write(control::HOTCONFIG.into(), text)
                }
                Err(e) => return failed(None, e, true),
            }
        }
    };
    match call_target(&target, &request, args.timeout) {
        Ok(value) if json => {
            println!(
                "{}",
                answer_json(&request, hotconfig_file.as_deref(), &value)
            );
            ExitCode::SUCCESS
        }
        Ok(value) => {
            print!("{value}");
            if !value.is_empty() && !value.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(CtlError::Refused { code, message }) => {
            let message = match &renamed {
                Some(file) => message
                    .replace(" hotconfig:", &format!(" {file}:"))
                    .replace("\nhotconfig:", &format!("\n{file}:")),
                None => message,
            };
            if json {
                failed(Some(code), message, false)
            } else {
                fail("ctl", CtlError::Refused { code, message })
            }
        }
        Err(e) => failed(None, e.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::prepared::PreparedConfig;

    const FILTER: &str = "FromDevice(0) -> f :: IPFilter(allow udp, deny all) -> ToDevice(1);\n";

    fn file(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("sluice-ctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    #[test]
    fn json_answers_have_the_documented_shapes() {
        let read = answer_json(&Request::Read("c.count".into()), None, "5\n");
        assert_eq!(
            read.to_string(),
            r#"{"handler": "c.count", "value": "5\n"}"#
        );
        let write = answer_json(&Request::Write("c.reset".into(), String::new()), None, "");
        assert_eq!(
            write.to_string(),
            r#"{"handler": "c.reset", "status": "ok"}"#
        );
        let hot = answer_json(
            &Request::WriteData("hotconfig".into(), vec![1, 2]),
            Some("fw2.click"),
            "",
        );
        assert_eq!(
            hot.to_string(),
            r#"{"handler": "hotconfig", "status": "ok", "file": "fw2.click"}"#
        );
        let refused = error_json(Some(511), "no handler 'c.nope'\n");
        assert_eq!(
            refused.to_string(),
            r#"{"error": {"code": 511, "message": "no handler 'c.nope'"}}"#
        );
        let unanswered = error_json(None, "cannot connect to /x: refused");
        assert_eq!(
            unanswered.to_string(),
            r#"{"error": {"code": null, "message": "cannot connect to /x: refused"}}"#
        );
        // Whatever a message holds, the line parses back to it.
        let odd = error_json(Some(520), "a \"quoted\"\n\tline\n  ^");
        let back = Json::parse(&odd.to_string()).expect("valid JSON");
        assert_eq!(
            back.at(&["error", "message"]).and_then(Json::as_str),
            Some("a \"quoted\"\n\tline\n  ^")
        );
        assert_eq!(
            back.at(&["error", "code"]).and_then(Json::as_f64),
            Some(520.0)
        );
    }

    #[test]
    fn a_vm_gets_the_configuration_prepared_as_an_image_embeds_it() {
        let f = file("filter.click", FILTER);
        let classes = || Ok("FromDevice\nIPFilter\nToDevice\n".to_string());
        let data = vm_hotconfig_data(&[f], classes).expect("prepared");
        let config = PreparedConfig::decode(&data).expect("decodes");
        assert_eq!(config.name, "filter.click (flattened)");
        let names: Vec<&str> = config
            .graph
            .elements
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["FromDevice@1", "f", "ToDevice@3"]);
        // The filter's program, compiled here: the image has no pattern compiler.
        assert!(config.prepared[1].is_some(), "{:?}", config.prepared);
        assert_eq!(
            config.text,
            sluice_dataplane::sluice_config::unparse(&config.graph)
        );
    }

    #[test]
    fn classes_the_image_lacks_are_refused_by_name_before_anything_is_sent() {
        let f = file(
            "queue.click",
            "FromDevice(0) -> q :: Queue -> ToDevice(1);\n",
        );
        let classes = || Ok("FromDevice\nToDevice\n".to_string());
        let err = vm_hotconfig_data(std::slice::from_ref(&f), classes).expect_err("refused");
        assert!(
            err.contains("queue.click: the VM's image has no element class Queue (q);"),
            "{err}"
        );
        assert!(err.contains("(FromDevice, ToDevice)"), "{err}");
        // A file with errors is refused before the VM is asked anything.
        let bad = file("bad.click", "FromDevice(0) -> ;\n");
        let err = vm_hotconfig_data(&[bad], || panic!("the VM was asked")).expect_err("bad");
        assert!(err.contains("bad.click:1:"), "{err}");
        // Host-only classes are refused as `sluice build` refuses them.
        let host = file("host.click", "FromDump(x.pcap) -> Discard;\n");
        let err = vm_hotconfig_data(&[host], || panic!("the VM was asked")).expect_err("host");
        assert!(err.contains("run only on the host"), "{err}");
    }
}
