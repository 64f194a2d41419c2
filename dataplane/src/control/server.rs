//! A ControlSocket server on a UNIX or TCP socket (host only), for a single-threaded
//! router loop: every socket is non-blocking, and [`Server::poll`] does what can be done
//! without waiting (accept clients, read what they sent, run their commands, send the
//! answers) and returns.
//!
//! Each poll reads at most [`READ_CHUNK`] bytes from each client, and at most
//! [`MAX_CLIENTS`] clients are served at once (more wait in the listen queue), so a flood of
//! input delays the router by a bounded amount; a client that does not read its answers is
//! not read from until it does (after [`MAX_OUTPUT`] bytes wait).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;

use super::{Handlers, Session};

/// Bytes read from one client per poll.
pub const READ_CHUNK: usize = 4096;
/// Clients served at once; more wait in the listen queue.
pub const MAX_CLIENTS: usize = 64;
/// Unsent answer bytes after which a client's further commands wait.
pub const MAX_OUTPUT: usize = 4 << 20;
/// After a session ends (`QUIT`, an overlong line) with the client still sending, the server
/// closes its side for writing and reads and discards what still comes for at most this
/// many polls or [`LINGER_BYTES`] bytes, so the client gets the last answer (closing a socket
/// with unread input would reset the connection instead).
pub const LINGER_POLLS: u32 = 1000;
/// See [`LINGER_POLLS`].
pub const LINGER_BYTES: usize = 1 << 20;

enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream {
    fn shutdown_write(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
        };
    }
}

struct Client {
    stream: Stream,
    session: Session,
    /// The client sent all it will.
    eof: bool,
    /// The session is over and the answers sent: `(polls, bytes)` spent discarding input.
    linger: Option<(u32, usize)>,
    id: u64,
}

/// What happened to a client during a [`Server::poll`], for a `VERBOSE` log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Client `id` connected (from `peer`, for TCP).
    Opened {
        /// A number for the connection, counting from 1.
        id: u64,
        /// The peer's address, for TCP.
        peer: Option<SocketAddr>,
    },
    /// Client `id`'s connection closed.
    Closed {
        /// The connection's number.
        id: u64,
    },
}

/// A listening control socket and its clients.
pub struct Server {
    listener: Listener,
    clients: Vec<Client>,
    read_only: bool,
    next_id: u64,
    /// Where [`poll`](Self::poll) reports connections opened and closed, if anywhere.
    pub events: Option<Vec<Event>>,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("clients", &self.clients.len())
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on the UNIX socket `path`. A socket file already there that nobody listens
    /// on (left by a process that died) is replaced; any other file is an error. The file is
    /// removed when the server is dropped.
    pub fn bind_unix(path: &Path, read_only: bool) -> io::Result<Self> {
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() && UnixStream::connect(path).is_err() {
                let _ = std::fs::remove_file(path);
            }
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        Ok(Self::new(Listener::Unix(listener, path.into()), read_only))
    }

    /// Listens on TCP address `addr`.
    pub fn bind_tcp(addr: SocketAddr, read_only: bool) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Self::new(Listener::Tcp(listener), read_only))
    }

    fn new(listener: Listener, read_only: bool) -> Self {
        Self {
            listener,
            clients: Vec::new(),
            read_only,
            next_id: 1,
            events: None,
        }
    }

    /// The TCP port listened on (`None` for a UNIX socket).
    pub fn port(&self) -> Option<u16> {
        match &self.listener {
            Listener::Tcp(l) => l.local_addr().ok().map(|a| a.port()),
            Listener::Unix(..) => None,
        }
    }

    /// The UNIX socket's path (`None` for TCP).
    pub fn path(&self) -> Option<&Path> {
        match &self.listener {
            Listener::Unix(_, p) => Some(p),
            Listener::Tcp(_) => None,
        }
    }

    /// Whether clients that connect from now on may write (a `ControlSocket` that took
    /// this server over through `hotconfig` with another `READONLY`).
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// How many clients are connected.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Serves what can be served without waiting. Returns whether anything happened (a
    /// client connected, sent or was sent something, or left).
    pub fn poll(&mut self, handlers: &dyn Handlers) -> bool {
        let mut busy = self.accept();
        let mut buf = [0u8; READ_CHUNK];
        let mut i = 0;
        while i < self.clients.len() {
            let c = &mut self.clients[i];
            if let Some((polls, bytes)) = &mut c.linger {
                let mut gone = *polls >= LINGER_POLLS || *bytes >= LINGER_BYTES;
                *polls += 1;
                while !gone {
                    match c.stream.read(&mut buf) {
                        Ok(0) => gone = true,
                        Ok(n) => {
                            *bytes += n;
                            gone = *bytes >= LINGER_BYTES;
                        }
                        Err(e) if would_block(&e) => break,
                        Err(_) => gone = true,
                    }
                }
                if gone {
                    let id = c.id;
                    self.clients.swap_remove(i);
                    if let Some(ev) = &mut self.events {
                        ev.push(Event::Closed { id });
                    }
                    busy = true;
                } else {
                    i += 1;
                }
                continue;
            }
            if !c.eof && !c.session.is_closed() && c.session.output().len() < MAX_OUTPUT {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        c.eof = true;
                        busy = true;
                    }
                    Ok(n) => {
                        c.session.feed(&buf[..n]);
                        busy = true;
                    }
                    Err(e) if would_block(&e) => {}
                    Err(_) => c.eof = true,
                }
            }
            if c.session.output().len() < MAX_OUTPUT {
                busy |= c.session.process(handlers, c.eof);
            }
            let mut broken = false;
            let out = c.session.output();
            let mut sent = 0;
            while sent < out.len() {
                match c.stream.write(&out[sent..]) {
                    Ok(0) => break,
                    Ok(n) => sent += n,
                    Err(e) if would_block(&e) => break,
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
            if sent > 0 {
                out.drain(..sent);
                busy = true;
            }
            let done = (c.eof || c.session.is_closed()) && c.session.output().is_empty();
            if done && !broken && !c.eof {
                // Ended by the server: the client sees the end of the answers, and what it
                // still sends is read away for a while.
                c.stream.shutdown_write();
                c.linger = Some((0, 0));
                i += 1;
            } else if broken || done {
                let id = c.id;
                self.clients.swap_remove(i);
                if let Some(ev) = &mut self.events {
                    ev.push(Event::Closed { id });
                }
                busy = true;
            } else {
                i += 1;
            }
        }
        busy
    }

    fn accept(&mut self) -> bool {
        let mut any = false;
        while self.clients.len() < MAX_CLIENTS {
            let accepted = match &self.listener {
                Listener::Unix(l, _) => l
                    .accept()
                    .map(|(s, _)| (s.set_nonblocking(true).map(|()| Stream::Unix(s)), None)),
                Listener::Tcp(l) => l.accept().map(|(s, peer)| {
                    (s.set_nonblocking(true).map(|()| Stream::Tcp(s)), Some(peer))
                }),
            };
            let (stream, peer) = match accepted {
                Ok((Ok(s), peer)) => (s, peer),
                // A client that cannot be made non-blocking is dropped (closed).
                Ok((Err(_), _)) => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let id = self.next_id;
            self.next_id += 1;
            let mut session = Session::new(self.read_only);
            session.greet();
            self.clients.push(Client {
                stream,
                session,
                eof: false,
                linger: None,
                id,
            });
            if let Some(ev) = &mut self.events {
                ev.push(Event::Opened { id, peer });
            }
            any = true;
        }
        any
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = &self.listener {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Describes an I/O error without Rust's `(os error N)` suffix, as Click prints errno.
pub fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].into(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Mode;
    use crate::HandlerError;

    struct One;
    impl Handlers for One {
        fn read(&self, name: &str, _: &str) -> Result<String, HandlerError> {
            match name {
                "x.v" => Ok("7".into()),
                n => Err(HandlerError::NoSuchHandler(n.into())),
            }
        }
        fn write(&self, name: &str, _: &str) -> Result<(), HandlerError> {
            Err(HandlerError::NoSuchHandler(name.into()))
        }
        fn mode(&self, name: &str) -> Result<Option<Mode>, HandlerError> {
            Ok((name == "x.v").then_some(Mode {
                read: true,
                write: false,
            }))
        }
    }

    fn serve_until(server: &mut Server, mut done: impl FnMut() -> bool) {
        for _ in 0..100_000 {
            server.poll(&One);
            if done() {
                return;
            }
            std::thread::yield_now();
        }
        panic!("server never got there");
    }

    #[test]
    fn unix_socket_round_trip_and_cleanup() {
        let dir = std::env::temp_dir().join(format!("sluice-ctl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let mut server = Server::bind_unix(&path, false).unwrap();
        let mut client = UnixStream::connect(&path).unwrap();
        client.write_all(b"READ x.v\r\nREAD y\r\nQUIT\r\n").unwrap();
        // The server closes the connection after QUIT: read to the end.
        client.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        serve_until(&mut server, || {
            let mut b = [0u8; 256];
            match client.read(&mut b) {
                Ok(0) => true,
                Ok(n) => {
                    got.extend_from_slice(&b[..n]);
                    false
                }
                Err(_) => false,
            }
        });
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "Click::ControlSocket/1.3\r\n200 Read handler 'x.v' OK\r\nDATA 1\r\n7\
             511 No handler named 'y'\r\n200 Goodbye!\r\n"
        );
        // The server lingers until the client closes its side.
        assert_eq!(server.clients(), 1);
        drop(client);
        // A client that leaves mid-command is dropped without an answer.
        let mut c2 = UnixStream::connect(&path).unwrap();
        c2.write_all(b"WRITEDATA x.v 100\r\nab").unwrap();
        drop(c2);
        let mut polls = 0;
        while server.clients() > 0 || polls == 0 {
            server.poll(&One);
            polls += 1;
            assert!(polls < 100_000, "the client is never dropped");
        }
        drop(server);
        assert!(!path.exists(), "the socket file is removed");
        let _ = std::fs::remove_dir(&dir);
    }

    #[test]
    fn stale_socket_is_replaced_other_files_are_not() {
        let dir = std::env::temp_dir().join(format!("sluice-ctl2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        // A socket nobody listens on.
        drop(UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let server = Server::bind_unix(&path, false).unwrap();
        assert!(Server::bind_unix(&path, false).is_err(), "in use");
        drop(server);
        let file = dir.join("plain");
        std::fs::write(&file, "x").unwrap();
        assert!(Server::bind_unix(&file, false).is_err());
        assert!(file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tcp_port_is_reported() {
        let server = Server::bind_tcp("127.0.0.1:0".parse().unwrap(), true).unwrap();
        assert!(server.port().is_some_and(|p| p != 0));
        assert!(server.path().is_none());
    }
}
