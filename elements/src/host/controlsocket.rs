//! `ControlSocket(TYPE, ADDRESS [, KEYWORDS])` — serves the router's handlers over a socket.
//!
//! **Ports:** `0/0`: none.
//!
//! **Processing:** `a/a`: agnostic.
//!
//! Listens on a UNIX socket (`ControlSocket(unix, FILENAME)`) or a TCP port
//! (`ControlSocket(tcp, PORT)`) and answers clients in Click's ControlSocket protocol,
//! version 1.3: a client is greeted with `Click::ControlSocket/1.3`, then sends lines such as
//! `READ c.count`, `READ s.add 1 2` (a read handler with parameters), `WRITE src.active
//! false`, `READDATA`/`WRITEDATA h N` followed by N bytes, `CHECKREAD h`, `CHECKWRITE h` and
//! `QUIT`. Replies are `CODE message` lines; a read's value follows as `DATA N` and N bytes.
//! Codes: 200 OK, 500 syntax error, 501 unimplemented command, 510 no such element, 511 no
//! such handler, 520 write handler error, 521 data too large, 530 permission denied, 590 read
//! handler error. `sluice ctl --socket FILENAME read c.count` (or `--port PORT`) is a client.
//!
//! Clients are served inside the router's loop, between task runs (every millisecond, by a
//! timer), with non-blocking sockets: a handler call runs as a call from the router would.
//! A UNIX socket file is removed when the router stops; a stale socket file nobody listens
//! on is replaced at start.
//!
//! PORT may end in `+` (`41930+`): the first free port from that one on (ten tries).
//! PORT 0 asks the system for any free port; the `port` handler tells which.
//!
//! **Keywords:**
//!
//! - `READONLY` (boolean): refuse every write (`530 Permission denied`). Default false.
//! - `LOCALHOST` (boolean): for TCP, listen on 127.0.0.1 only. Default false: every
//!   address.
//! - `VERBOSE` (boolean): print a line when a client connects or disconnects. Default false.
//! - `RETRIES` (integer): when the socket cannot be opened (the address is in use), try again
//!   once a second this many times before stopping the router. Default 0: a failure at
//!   initialization is an error.
//! - `RETRY_WARNINGS` (boolean): print a warning for each failed try. Default true.
//! - `PROXY` (element): not supported; the configuration is refused.
//!
//! **Handlers:** `port` (TCP: the port listened on), `filename` (UNIX: the socket's path).
//!
//! **Hot reconfiguration:** a `ControlSocket` that replaces one of the same name and
//! address through `hotconfig` takes over its listening socket and its connected clients,
//! as Click's does (binding the address again would fail while the old one holds it).
//! A changed `READONLY` applies to clients that connect afterwards.
//!
//! **Example:**
//!
//! ```text
//! ControlSocket(unix, /tmp/router.sock);
//! ControlSocket(tcp, 7777, LOCALHOST true, READONLY true);
//! src :: RatedSource(RATE 10) -> c :: Counter -> Discard;
//! ```
//!
//! **Differences from Click:** `PROXY` and the `socket` type (an inherited file descriptor)
//! are not supported, nor are LLRPCs (answered with 501). A write handler's warnings are
//! printed on the console rather than answered with code 220. Of the element's own
//! handlers, only `port`, `filename`, `name` and `class` can be read through its own socket
//! (the element is busy serving it).

use std::boxed::Box;
use std::format;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::string::{String, ToString};
use std::vec::Vec;

use sluice_config::args::Args;
use sluice_dataplane::control::server::{self, Event, Server};
use sluice_dataplane::control::{self, Mode};
use sluice_dataplane::{
    ConfigContext, Context, Element, ElementClass, Handler, HandlerError, InitContext,
};

/// The class.
#[allow(non_upper_case_globals)]
pub static ControlSocket: ElementClass = ElementClass {
    name: "ControlSocket",
    ports: "0/0",
    processing: "a/a",
    make,
    names: None,
};

/// How often the sockets are looked at.
const POLL_NS: u64 = 1_000_000;
/// How long between tries to open the socket (`RETRIES`).
const RETRY_NS: u64 = 1_000_000_000;
/// Ports tried after a `PORT+` one.
const PORT_TRIES: u16 = 10;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Address {
    Unix(PathBuf),
    Tcp { port: u16, search: bool },
}

struct Cs {
    address: Address,
    read_only: bool,
    localhost: bool,
    verbose: bool,
    /// Tries left after a failed one.
    retries: u32,
    retry_warnings: bool,
    server: Option<Server>,
    /// A failed try at initialization, to report at the first timer.
    pending_warning: Option<String>,
}

fn make(args: &mut Args<'_>, _cx: &ConfigContext<'_>) -> Option<Box<dyn Element>> {
    let kind: Option<String> = args.read_mp("TYPE");
    let read_only: bool = args.read_k("READONLY").unwrap_or(false);
    let proxy: Option<String> = args.read_k("PROXY");
    let verbose: bool = args.read_k("VERBOSE").unwrap_or(false);
    let retries: i32 = args.read_k("RETRIES").unwrap_or(0);
    let retry_warnings: bool = args.read_k("RETRY_WARNINGS").unwrap_or(true);
    let localhost: bool = args.read_k("LOCALHOST").unwrap_or(false);
    let kind = kind?;
    if proxy.is_some() {
        args.error_whole("PROXY is not supported (sluice has no handler proxies)");
        return None;
    }
    let address = match kind.to_ascii_uppercase().as_str() {
        "TCP" => {
            let port: String = args.read_mp("PORT")?;
            let (digits, search) = match port.strip_suffix('+') {
                Some(d) => (d, true),
                None => (port.as_str(), false),
            };
            match digits.parse::<u16>() {
                Ok(p) if !(search && p == 0) => Address::Tcp { port: p, search },
                _ => {
                    args.error_whole(format!("PORT: expected a TCP port, not '{port}'"));
                    return None;
                }
            }
        }
        "UNIX" => {
            let path: String = args.read_mp("FILENAME")?;
            // sockaddr_un's path holds 107 bytes and a NUL.
            if path.len() >= 108 {
                args.error_whole("FILENAME: too long for a UNIX socket");
                return None;
            }
            Address::Unix(path.into())
        }
        "SOCKET" => {
            args.error_whole("socket type 'socket' is not supported (use unix or tcp)");
            return None;
        }
        _ => {
            args.error_whole(format!(
                "unknown socket type '{kind}' (expected unix or tcp)"
            ));
            return None;
        }
    };
    Some(Box::new(Cs {
        address,
        read_only,
        localhost,
        verbose,
        retries: retries.max(0) as u32,
        retry_warnings,
        server: None,
        pending_warning: None,
    }))
}

impl Cs {
    /// Opens the socket; the error names the failing call, as Click's messages do.
    fn open(&mut self) -> Result<(), String> {
        let mut server = match &self.address {
            Address::Unix(path) => Server::bind_unix(path, self.read_only)
                .map_err(|e| format!("bind: {}", server::describe(&e)))?,
            Address::Tcp { port, search } => {
                let ip = if self.localhost {
                    Ipv4Addr::LOCALHOST
                } else {
                    Ipv4Addr::UNSPECIFIED
                };
                let mut port = *port;
                let mut tries = 0;
                loop {
                    match Server::bind_tcp(SocketAddr::from((ip, port)), self.read_only) {
                        Ok(s) => break s,
                        Err(_) if *search && tries < PORT_TRIES && port < 65534 => {
                            port += 1;
                            tries += 1;
                        }
                        Err(e) => return Err(format!("bind: {}", server::describe(&e))),
                    }
                }
            }
        };
        if self.verbose {
            server.events = Some(Vec::new());
        }
        self.server = Some(server);
        Ok(())
    }

    fn retry_warning(&self, error: &str) -> String {
        let n = self.retries;
        format!(
            "{error} ({} {} left)",
            n,
            if n == 1 { "try" } else { "tries" }
        )
    }

    fn own_handler(&self, name: &str) -> Option<String> {
        match (name, &self.address) {
            ("port", Address::Tcp { port, .. }) => Some(
                self.server
                    .as_ref()
                    .and_then(Server::port)
                    .unwrap_or(*port)
                    .to_string(),
            ),
            ("filename", Address::Unix(path)) => Some(path.display().to_string()),
            _ => None,
        }
    }
}

/// The router's handlers as a client of this element sees them: through the element's
/// context, and this element's own (which the router cannot reach while it serves).
struct Via<'a, 'b> {
    ctx: &'a Context<'b>,
    me: &'a str,
    port: Option<String>,
    filename: Option<String>,
}

impl Via<'_, '_> {
    fn own(&self, name: &str) -> Option<&str> {
        let (element, handler) = name.rsplit_once('.')?;
        if element != self.me {
            return None;
        }
        match handler {
            "port" => self.port.as_deref(),
            "filename" => self.filename.as_deref(),
            "name" => Some(self.me),
            "class" => Some("ControlSocket"),
            _ => None,
        }
    }
}

impl control::Handlers for Via<'_, '_> {
    fn read(&self, name: &str, params: &str) -> Result<String, HandlerError> {
        if let Some(v) = self.own(name) {
            return if params.trim().is_empty() {
                Ok(v.into())
            } else {
                Err(HandlerError::BadValue(format!(
                    "read handler '{name}' does not take parameters"
                )))
            };
        }
        self.ctx.read_handler_with(name, params)
    }

    fn write(&self, name: &str, value: &str) -> Result<(), HandlerError> {
        if self.own(name).is_some() {
            return Err(HandlerError::NoSuchHandler(name.into()));
        }
        self.ctx.write_handler(name, value)
    }

    fn mode(&self, name: &str) -> Result<Option<Mode>, HandlerError> {
        if self.own(name).is_some() {
            return Ok(Some(Mode {
                read: true,
                write: false,
            }));
        }
        control::mode_by(name, &|path| self.ctx.read_handler(path))
    }
}

impl Element for Cs {
    fn push(&mut self, _ctx: &mut Context<'_>, _port: usize, _batch: sluice_dataplane::Batch) {}

    fn initialize(&mut self, ctx: &mut InitContext<'_>) -> Result<(), String> {
        // Replacing a ControlSocket that listens on the same address (a `hotconfig`):
        // binding again would fail; its socket and clients come over in `take_state`.
        let listening = ctx.replacing().is_some_and(|old| {
            old.downcast_ref::<Cs>()
                .is_some_and(|o| o.address == self.address && o.server.is_some())
        });
        if listening {
            ctx.set_timer(ctx.now() + POLL_NS);
            return Ok(());
        }
        match self.open() {
            Ok(()) => ctx.set_timer(ctx.now() + POLL_NS),
            Err(e) if self.retries > 0 => {
                if self.retry_warnings {
                    self.pending_warning = Some(self.retry_warning(&e));
                }
                self.retries -= 1;
                ctx.set_timer(ctx.now() + RETRY_NS);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn run_timer(&mut self, ctx: &mut Context<'_>) {
        if let Some(w) = self.pending_warning.take() {
            ctx.log(&format!("{}: warning: {w}", ctx.name()));
        }
        if self.server.is_none() {
            match self.open() {
                Ok(()) => {}
                Err(e) if self.retries > 0 => {
                    if self.retry_warnings {
                        let w = self.retry_warning(&e);
                        ctx.log(&format!("{}: warning: {w}", ctx.name()));
                    }
                    self.retries -= 1;
                    ctx.set_timer(ctx.now() + RETRY_NS);
                    return;
                }
                Err(e) => {
                    ctx.log(&format!("{}: {e}", ctx.name()));
                    ctx.stop_router();
                    return;
                }
            }
        }
        let port = self.own_handler("port");
        let filename = self.own_handler("filename");
        let name = ctx.name().to_string();
        let events = {
            let Some(server) = self.server.as_mut() else {
                return;
            };
            let via = Via {
                ctx,
                me: &name,
                port,
                filename,
            };
            server.poll(&via);
            server.events.as_mut().map(core::mem::take)
        };
        for event in events.into_iter().flatten() {
            ctx.log(&match event {
                Event::Opened {
                    id,
                    peer: Some(peer),
                } => {
                    format!("{name}: opened connection {id} from {peer}")
                }
                Event::Opened { id, peer: None } => format!("{name}: opened connection {id}"),
                Event::Closed { id } => format!("{name}: closed connection {id}"),
            });
        }
        ctx.set_timer(ctx.now() + POLL_NS);
    }

    fn read_handler(&self, name: &str) -> Option<String> {
        self.own_handler(name)
    }

    fn handlers(&self) -> &'static [Handler] {
        const TCP: &[Handler] = &[Handler::read("port")];
        const UNIX: &[Handler] = &[Handler::read("filename")];
        match self.address {
            Address::Tcp { .. } => TCP,
            Address::Unix(_) => UNIX,
        }
    }

    fn take_state(&mut self, old: &mut dyn Element, _: &mut Vec<String>) {
        let Some(old) = old.downcast_mut::<Cs>() else {
            return;
        };
        if old.address != self.address || self.server.is_some() {
            return;
        }
        // None when the old one was still retrying: the timer then opens the socket.
        self.server = old.server.take();
        if let Some(server) = self.server.as_mut() {
            server.set_read_only(self.read_only);
            server.events = self.verbose.then(Vec::new);
        }
    }

    fn cleanup(&mut self, _ctx: &mut Context<'_>) {
        // Closes every connection and removes a UNIX socket's file.
        self.server = None;
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{config_error, graph, Bench};

    fn error(config: &str) -> String {
        config_error(&graph(&[("cs", "ControlSocket", config)], &[]))
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        assert!(error("tcp, 70000").contains("PORT"));
        assert!(error("tcp, 0+").contains("PORT"));
        assert!(error("unix, x, PROXY y").contains("PROXY is not supported"));
        assert!(error("socket, 3").contains("not supported"));
        assert!(error("udp, 3").contains("unknown socket type"));
        assert!(error(&format!("unix, /{}", "a".repeat(120))).contains("too long"));
    }

    #[test]
    fn hotconfig_keeps_the_socket_listening_and_its_clients() {
        use sluice_dataplane::Clock;
        use std::io::{BufRead, BufReader, Write};
        let dir = std::env::temp_dir().join(format!("sluice-cs-hot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cs.sock");
        let config = format!("unix, {}", path.display());
        let b = Bench::new();
        let g = |extra: &str| {
            graph(
                &[
                    ("cs", "ControlSocket", &format!("{config}{extra}")),
                    ("c", "Counter", ""),
                ],
                &[],
            )
        };
        let mut router = b.router(&g("")).unwrap();
        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(client.try_clone().unwrap());
        let serve = |router: &mut sluice_dataplane::Router| {
            for _ in 0..3 {
                b.clock.set(b.clock.now_ns() + 1_000_000_000);
                router.run_slice();
            }
        };
        serve(&mut router);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "Click::ControlSocket/1.3\r\n");
        // The same address again (binding it would fail): the socket, with this client,
        // carries over; READONLY takes effect for clients that connect afterwards.
        crate::testutil::hotswap(&mut router, &g(", READONLY true")).unwrap();
        assert!(path.exists());
        (&client).write_all(b"READ c.class\r\n").unwrap();
        serve(&mut router);
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "200 Read handler 'c.class' OK\r\n");
        router.cleanup();
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn opens_and_removes_its_socket() {
        let dir = std::env::temp_dir().join(format!("sluice-cs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cs.sock");
        let config = format!("unix, {}", path.display());
        let mut router = Bench::new()
            .router(&graph(&[("cs", "ControlSocket", &config)], &[]))
            .unwrap();
        assert!(path.exists());
        assert_eq!(
            router.read_handler("cs.filename").unwrap(),
            path.display().to_string()
        );
        // The same path again: in use, and no RETRIES.
        let e = config_error(&graph(&[("cs2", "ControlSocket", &config)], &[]));
        assert!(e.contains("bind"), "{e}");
        router.cleanup();
        assert!(!path.exists());
        let tcp = Bench::new()
            .router(&graph(
                &[(
                    "t",
                    "ControlSocket",
                    "tcp, 0, LOCALHOST true, READONLY true",
                )],
                &[],
            ))
            .unwrap();
        let port: u16 = tcp.read_handler("t.port").unwrap().parse().unwrap();
        assert_ne!(port, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
