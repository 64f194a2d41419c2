//! `sluice ctl VM read ELEMENT.HANDLER` / `write ELEMENT.HANDLER VALUE`: a client of the
//! VM's control channel, which speaks Click's ControlSocket protocol (the unikernel's
//! `control` module documents the server; it greets when a session's first byte arrives).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use super::fail;
use super::state::{runtime_dir, VmRecord};

/// Arguments of `sluice ctl`.
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The VM: its name (see `sluice ps`) or the path of its control socket.
    pub vm: String,
    #[command(subcommand)]
    pub op: CtlOp,
    /// How long to wait for the VM's answer.
    #[arg(long, default_value = "5s", value_parser = super::state::parse_duration)]
    pub timeout: Duration,
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
}

/// A request to the control channel.
#[derive(Debug, Clone)]
pub enum Request {
    /// Read a handler.
    Read(String),
    /// Write a handler.
    Write(String, String),
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
    /// The VM answered with an error code.
    #[error("{code} {message}")]
    Refused {
        /// ControlSocket status code (510 no such element, 511 no such handler, ...).
        code: u16,
        /// The VM's message.
        message: String,
    },
    /// Not the ControlSocket protocol.
    #[error("unexpected answer from the VM: {0:?}")]
    Protocol(String),
}

/// Finds the control socket of `vm`: a path to a socket, or a VM name.
pub fn resolve(vm: &str) -> Result<PathBuf, String> {
    let path = Path::new(vm);
    if vm.contains('/') || path.exists() {
        return Ok(path.into());
    }
    let dir = runtime_dir().map_err(|e| format!("runtime directory: {e}"))?;
    VmRecord::load(&dir, vm)
        .filter(VmRecord::alive)
        .map(|r| r.control)
        .ok_or_else(|| format!("no running VM named '{vm}' (see `sluice ps`)"))
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
    let command = match request {
        Request::Read(h) => format!("QUIT\r\nREAD {h}\r\nQUIT\r\n"),
        Request::Write(h, v) if v.contains(['\r', '\n']) => {
            format!("QUIT\r\nWRITEDATA {h} {}\r\n{v}QUIT\r\n", v.len())
        }
        Request::Write(h, v) => format!("QUIT\r\nWRITE {h} {v}\r\nQUIT\r\n"),
    };
    writer.write_all(command.as_bytes())?;
    let mut reader = BufReader::new(stream);
    // Skip what is not ours (output left from an earlier session, the leading QUIT's
    // goodbye): the answer is the first status line after a greeting that is not a goodbye.
    let mut greeted = false;
    let (code, message) = loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(CtlError::Protocol(
                "connection closed before an answer".into(),
            ));
        }
        let line = line.trim_end();
        if line.starts_with("Click::ControlSocket/") {
            greeted = true;
            continue;
        }
        let Some(code) = line.get(..3).and_then(|c| c.parse::<u16>().ok()) else {
            continue;
        };
        // "200-..." continuation lines come before the last one.
        if !greeted || line.as_bytes().get(3) == Some(&b'-') || line.ends_with("Goodbye!") {
            continue;
        }
        break (code, line.get(4..).unwrap_or("").to_string());
    };
    if !(200..300).contains(&code) {
        drain_goodbye(&mut reader);
        return Err(CtlError::Refused { code, message });
    }
    if let Request::Write(..) = request {
        drain_goodbye(&mut reader);
        return Ok(String::new());
    }
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let n: usize = line
        .trim_end()
        .strip_prefix("DATA ")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| CtlError::Protocol(line.trim_end().into()))?;
    let mut data = vec![0u8; n];
    reader.read_exact(&mut data)?;
    drain_goodbye(&mut reader);
    Ok(String::from_utf8_lossy(&data).into_owned())
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

/// `sluice ctl`.
pub fn ctl(args: CtlArgs) -> ExitCode {
    let socket = match resolve(&args.vm) {
        Ok(s) => s,
        Err(e) => return fail("ctl", e),
    };
    let request = match args.op {
        CtlOp::Read { handler } => Request::Read(handler),
        CtlOp::Write { handler, value } => Request::Write(handler, value.join(" ")),
    };
    match call_with_timeout(&socket, &request, args.timeout) {
        Ok(value) => {
            print!("{value}");
            if !value.is_empty() && !value.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail("ctl", e),
    }
}
