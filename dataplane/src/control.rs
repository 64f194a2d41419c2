//! Click's ControlSocket protocol (version 1.3), shared by every control server (the
//! unikernel's serial control channel, `sluice run --ctl`, the `ControlSocket` element) and
//! by the `sluice ctl` client. No I/O here: a [`Session`] takes the bytes a client sent and
//! gives back the bytes to answer; [`Handlers`] is what it calls.
//!
//! Commands are lines ending in CR, LF or CRLF (the command word in any case); replies are
//! lines `CODE MESSAGE` ending in CRLF, `CODE-MESSAGE` for all but the last line of a
//! several-line reply. A read's value follows its reply as `DATA N` CRLF and N bytes.
//!
//! | command | reply |
//! |---|---|
//! | `READ h [params]` (also `GET`) | `200 Read handler 'h' OK`, `DATA n`, the value |
//! | `READDATA h N` + N bytes | the same, with the bytes as parameters |
//! | `READUNTIL h TERM` + lines up to one that is TERM | the same, with the lines as parameters |
//! | `WRITE h [value]` (also `SET`) | `200 Write handler 'h' OK` |
//! | `WRITEDATA h N` + N bytes (also `SETDATA`) | the same, with the bytes as the value |
//! | `WRITEUNTIL h TERM` + lines up to one that is TERM | the same, with the lines as the value |
//! | `CHECKREAD h`, `CHECKWRITE h` | `200 Read handler 'h' OK` or an error |
//! | `LLRPC element#COMMAND [N]` | `501`: no LLRPC can be called remotely |
//! | `HELP` | the commands, one per line |
//! | `QUIT` (also `CLOSE`) | `200 Goodbye!`; the server reads no further |
//!
//! A handler is named `element.handler`; a name without a dot is a global handler. As in
//! Click, a leading `.` or `0.` names a global too (`.version`), and the element may be
//! given by its number in the configuration (`2.count`, counting from 1).
//!
//! Codes: `200` OK, `500` syntax error, `501` unimplemented command, `510` no such element,
//! `511` no such handler (or, for `CHECKREAD`/`CHECKWRITE`, not readable/writable), `520` a
//! write handler failed, `521` data too large, `530` permission denied (a read-only server,
//! a write-only handler read, a read-only handler written), `590` a read handler failed. A
//! failed handler's reply is `Read handler 'h' error:` (or `Write ...`) followed by its
//! message lines under the same code.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::element::HandlerError;
use crate::router::Router;

#[cfg(feature = "std")]
pub mod server;

/// The line a server sends when a client connects.
pub const GREETING: &str = "Click::ControlSocket/1.3\r\n";

/// The protocol version in [`GREETING`].
pub const PROTOCOL_VERSION: &str = "1.3";

/// Longest command line accepted; a longer one is answered with a syntax error and the
/// session ends.
pub const MAX_LINE: usize = 64 * 1024;

/// Largest `READDATA`/`WRITEDATA` payload accepted; a larger one is skipped and answered
/// with `521`.
pub const MAX_DATA: usize = 1 << 20;

/// Success.
pub const OK: u16 = 200;
/// The command line is malformed.
pub const ERR_SYNTAX: u16 = 500;
/// The command is not implemented.
pub const ERR_UNIMPLEMENTED: u16 = 501;
/// No element by that name.
pub const ERR_NO_SUCH_ELEMENT: u16 = 510;
/// No handler by that name.
pub const ERR_NO_SUCH_HANDLER: u16 = 511;
/// A write handler failed.
pub const ERR_HANDLER: u16 = 520;
/// The data is too large.
pub const ERR_DATA_TOO_BIG: u16 = 521;
/// Not allowed.
pub const ERR_PERMISSION: u16 = 530;
/// A read handler failed.
pub const ERR_UNSPECIFIED: u16 = 590;

/// Whether a handler can be read, written, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
}

/// What a [`Session`] calls: a router's handlers, perhaps with more around them.
pub trait Handlers {
    /// Reads handler `name` (already resolved: `element.handler` or a global) with
    /// `params` (empty for none).
    fn read(&self, name: &str, params: &str) -> Result<String, HandlerError>;
    /// Writes `value` to handler `name`.
    fn write(&self, name: &str, value: &str) -> Result<(), HandlerError>;
    /// Writes the bytes of a `WRITEDATA` to handler `name`, as they came. Handlers of text
    /// (all but a VM's `hotconfig`) get them as [`write`](Self::write) would, invalid UTF-8
    /// replaced.
    fn write_data(&self, name: &str, data: &[u8]) -> Result<(), HandlerError> {
        self.write(name, &String::from_utf8_lossy(data))
    }
    /// Whether handler `name` exists and how it can be called: `Ok(None)` when the element
    /// exists but has no such handler, `Err(NoSuchElement)` when the element does not exist.
    /// Must not call the handler.
    fn mode(&self, name: &str) -> Result<Option<Mode>, HandlerError>;
}

/// The mode of handler `handler` in an element's `handlers` listing (lines `name<TAB>rw`).
pub fn listed_mode(listing: &str, handler: &str) -> Option<Mode> {
    listing.lines().find_map(|line| {
        let (name, mode) = line.split_once('\t').unwrap_or((line, "r"));
        (name == handler).then(|| Mode {
            read: mode.contains('r'),
            write: mode.contains('w'),
        })
    })
}

/// The mode of `name` in a router: an element's handler by its `handlers` listing, a
/// global by trying to read it (globals have no side effects) and `stop` as the one
/// writable global.
pub fn router_mode(router: &Router, name: &str) -> Result<Option<Mode>, HandlerError> {
    mode_by(name, &|path| router.read_handler(path))
}

/// As [`router_mode`], reading handlers with `read` (from inside an element, its context's
/// `read_handler`).
pub fn mode_by(
    name: &str,
    read: &dyn Fn(&str) -> Result<String, HandlerError>,
) -> Result<Option<Mode>, HandlerError> {
    match name.rsplit_once('.') {
        Some((element, handler)) => match read(&format!("{element}.handlers")) {
            Ok(listing) => Ok(listed_mode(&listing, handler)),
            Err(HandlerError::NoSuchElement(e)) => Err(HandlerError::NoSuchElement(e)),
            // A busy element: its handlers cannot be listed now.
            Err(_) => Ok(None),
        },
        None => {
            let read = read(name).is_ok();
            let write = name == "stop";
            Ok((read || write).then_some(Mode { read, write }))
        }
    }
}

impl Handlers for Router {
    fn read(&self, name: &str, params: &str) -> Result<String, HandlerError> {
        self.read_handler_with(name, params)
    }
    fn write(&self, name: &str, value: &str) -> Result<(), HandlerError> {
        self.write_handler(name, value)
    }
    fn mode(&self, name: &str) -> Result<Option<Mode>, HandlerError> {
        router_mode(self, name)
    }
}

/// Installs the configuration a write to the global `hotconfig` handler carries (Click's
/// `hotconfig`, which `click -R` provides): the platform parses the text, and
/// [`Router::hotswap`] swaps it in.
pub trait Hotconfig {
    /// Replaces `router`'s configuration with the one `text` holds. On error, `router` is
    /// unchanged and still running, and the message says why (every diagnostic).
    fn hotconfig(&self, router: &mut Router, text: &str) -> Result<(), String>;
    /// As [`hotconfig`](Self::hotconfig) for the bytes of a `WRITEDATA`: text unless the
    /// platform takes another form (a VM takes a
    /// [`PreparedConfig`](crate::prepared::PreparedConfig)).
    fn hotconfig_data(&self, router: &mut Router, data: &[u8]) -> Result<(), String> {
        self.hotconfig(router, &String::from_utf8_lossy(data))
    }
}

/// A router's handlers as a control server between scheduler slices sees them: the
/// router's own, and `hotconfig` when reconfiguration is allowed. Holding the router
/// mutably lets a `hotconfig` write replace it.
pub struct Live<'a> {
    router: core::cell::RefCell<&'a mut Router>,
    hotconfig: Option<&'a dyn Hotconfig>,
}

impl<'a> Live<'a> {
    /// `router`'s handlers, with `hotconfig` served by `hotconfig` if given.
    pub fn new(router: &'a mut Router, hotconfig: Option<&'a dyn Hotconfig>) -> Self {
        Self {
            router: core::cell::RefCell::new(router),
            hotconfig,
        }
    }
}

/// The global handler a new configuration is written to.
pub const HOTCONFIG: &str = "hotconfig";

fn busy() -> HandlerError {
    HandlerError::BadValue("the router is being reconfigured".into())
}

impl Handlers for Live<'_> {
    fn read(&self, name: &str, params: &str) -> Result<String, HandlerError> {
        let router = self.router.try_borrow().map_err(|_| busy())?;
        router.read_handler_with(name, params)
    }
    fn write(&self, name: &str, value: &str) -> Result<(), HandlerError> {
        match self.hotconfig {
            Some(hot) if name == HOTCONFIG => {
                let mut router = self.router.try_borrow_mut().map_err(|_| busy())?;
                hot.hotconfig(&mut router, value)
                    .map_err(HandlerError::BadValue)
            }
            _ => {
                let router = self.router.try_borrow().map_err(|_| busy())?;
                router.write_handler(name, value)
            }
        }
    }
    fn write_data(&self, name: &str, data: &[u8]) -> Result<(), HandlerError> {
        match self.hotconfig {
            Some(hot) if name == HOTCONFIG => {
                let mut router = self.router.try_borrow_mut().map_err(|_| busy())?;
                hot.hotconfig_data(&mut router, data)
                    .map_err(HandlerError::BadValue)
            }
            _ => self.write(name, &String::from_utf8_lossy(data)),
        }
    }
    fn mode(&self, name: &str) -> Result<Option<Mode>, HandlerError> {
        if self.hotconfig.is_some() && name == HOTCONFIG {
            return Ok(Some(Mode {
                read: false,
                write: true,
            }));
        }
        let router = self.router.try_borrow().map_err(|_| busy())?;
        router_mode(&router, name)
    }
}

/// One client's conversation with a server: bytes in ([`feed`](Self::feed)), commands run
/// ([`process`](Self::process)), bytes out ([`output`](Self::output)).
///
/// Memory is bounded: a line longer than [`MAX_LINE`] ends the session, a payload larger
/// than [`MAX_DATA`] is skipped. A server should stop reading from a client whose output it
/// cannot send.
#[derive(Debug, Default)]
pub struct Session {
    input: Vec<u8>,
    output: Vec<u8>,
    /// Bytes still to discard (the payload of a refused `WRITEDATA`).
    skip: usize,
    closed: bool,
    read_only: bool,
}

/// A write's value: a command line's text, or a `WRITEDATA`'s bytes as they came.
#[derive(Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    Data(&'a [u8]),
}

/// What a command line asks of the input that follows it.
enum Need {
    /// Nothing more: the command ran.
    Nothing,
    /// More input than has arrived: run it again when more does.
    More,
}

impl Session {
    /// A session; a `read_only` one refuses every write.
    pub fn new(read_only: bool) -> Self {
        Self {
            read_only,
            ..Self::default()
        }
    }

    /// Queues the greeting (a server sends it when the client connects).
    pub fn greet(&mut self) {
        self.output.extend_from_slice(GREETING.as_bytes());
    }

    /// Whether the session is over (`QUIT`, or an overlong line): it reads no more input;
    /// the server closes the connection once the output is sent.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Bytes waiting to be sent; the server removes what it sent (`drain(..n)`).
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.output
    }

    /// After `QUIT`: the bytes that arrived after it, which this session will not read (a
    /// serial line, where sessions follow one another on the same stream, starts the next
    /// session with them).
    pub fn take_unread(&mut self) -> Vec<u8> {
        if self.closed {
            core::mem::take(&mut self.input)
        } else {
            Vec::new()
        }
    }

    /// Takes bytes the client sent. Nothing is run until [`process`](Self::process).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.closed {
            return;
        }
        if self.skip > 0 {
            let n = self.skip.min(bytes.len());
            self.skip -= n;
            bytes = &bytes[n..];
        }
        self.input.extend_from_slice(bytes);
    }

    /// Runs every complete command that arrived. With `eof` (the client sent all it will),
    /// a last line without its line end runs too, and a command still waiting for data is
    /// answered with a syntax error. Returns whether any command ran.
    pub fn process(&mut self, handlers: &dyn Handlers, eof: bool) -> bool {
        let mut ran = false;
        while !self.closed && !self.input.is_empty() {
            let end = self.input.iter().position(|&b| b == b'\r' || b == b'\n');
            let (line_end, next) = match end {
                Some(i) if self.input[i] == b'\r' && self.input.get(i + 1) == Some(&b'\n') => {
                    (i, i + 2)
                }
                Some(i) => (i, i + 1),
                None if self.input.len() > MAX_LINE => {
                    self.reply(ERR_SYNTAX, false, "Line too long");
                    self.close();
                    break;
                }
                None if eof => (self.input.len(), self.input.len()),
                None => break,
            };
            if line_end > MAX_LINE {
                self.reply(ERR_SYNTAX, false, "Line too long");
                self.close();
                break;
            }
            let line = String::from_utf8_lossy(&self.input[..line_end]).into_owned();
            match self.command(&line, next, handlers, eof) {
                Need::More => break,
                Need::Nothing => ran = true,
            }
        }
        ran
    }

    fn close(&mut self) {
        self.closed = true;
        self.input = Vec::new();
        self.skip = 0;
    }

    /// Appends one reply line; control characters in `message` are shown as `^X`.
    fn reply(&mut self, code: u16, more: bool, message: &str) {
        let mut line = format!("{code}{}", if more { '-' } else { ' ' });
        for c in message.chars() {
            match c {
                '\x7f' => line.push_str("^?"),
                c if (c as u32) < 0x20 => {
                    line.push('^');
                    line.push((b'@' + c as u8) as char);
                }
                c => line.push(c),
            }
        }
        line.push_str("\r\n");
        self.output.extend_from_slice(line.as_bytes());
    }

    /// A failed handler's reply: `summary:` then its message lines, all under `code`.
    fn reply_lines(&mut self, code: u16, summary: &str, message: &str) {
        let lines: Vec<&str> = message.lines().filter(|l| !l.is_empty()).collect();
        if lines.is_empty() {
            return self.reply(code, false, summary);
        }
        self.reply(code, true, &format!("{summary}:"));
        for (i, l) in lines.iter().enumerate() {
            self.reply(code, i + 1 < lines.len(), l);
        }
    }

    /// Runs the command on `line`; its line ended at input offset `next`.
    fn command(&mut self, line: &str, next: usize, handlers: &dyn Handlers, eof: bool) -> Need {
        let words: Vec<(usize, &str)> = words(line);
        let Some(&(_, first)) = words.first() else {
            self.input.drain(..next);
            return Need::Nothing;
        };
        let command = first.to_ascii_uppercase();
        // From the third word to the end of the last one: a handler's parameters or value.
        let rest = match (words.get(2), words.last()) {
            (Some(&(start, _)), Some(&(last, w))) => &line[start..last + w.len()],
            _ => "",
        };
        match command.as_str() {
            "READ" | "GET" | "WRITE" | "SET" => {
                self.input.drain(..next);
                if words.len() < 2 {
                    self.reply(ERR_SYNTAX, false, "Wrong number of arguments");
                } else if command.starts_with(['R', 'G']) {
                    self.read(words[1].1, rest, handlers);
                } else {
                    self.write(words[1].1, Value::Text(rest), handlers);
                }
                Need::Nothing
            }
            "READDATA" | "WRITEDATA" | "SETDATA" | "LLRPC" => {
                let llrpc = command == "LLRPC";
                let count_ok = if llrpc {
                    words.len() == 2 || words.len() == 3
                } else {
                    words.len() == 3
                };
                if !count_ok {
                    self.input.drain(..next);
                    self.reply(ERR_SYNTAX, false, "Wrong number of arguments");
                    return Need::Nothing;
                }
                let len = match words.get(2) {
                    None => Some(0),
                    Some(&(_, w)) => w.parse::<usize>().ok(),
                };
                let Some(len) = len else {
                    self.input.drain(..next);
                    let what = if llrpc { "llrpc" } else { command.as_str() };
                    self.reply(ERR_SYNTAX, false, &format!("Syntax error in '{what}'"));
                    return Need::Nothing;
                };
                let name = words[1].1;
                if len > MAX_DATA {
                    let available = self.input.len() - next;
                    let here = available.min(len);
                    self.input.drain(..next + here);
                    self.skip = len - here;
                    self.reply(
                        ERR_DATA_TOO_BIG,
                        false,
                        &format!("Data too large for handler '{name}'"),
                    );
                    return Need::Nothing;
                }
                if self.input.len() < next + len {
                    if !eof {
                        return Need::More;
                    }
                    self.input.clear();
                    self.reply(ERR_SYNTAX, false, "Not enough data");
                    return Need::Nothing;
                }
                let data: Vec<u8> = self.input.drain(..next + len).skip(next).collect();
                if llrpc {
                    self.llrpc(name, handlers);
                } else if command.starts_with('R') {
                    self.read(name, &String::from_utf8_lossy(&data), handlers);
                } else {
                    self.write(name, Value::Data(&data), handlers);
                }
                Need::Nothing
            }
            "READUNTIL" | "WRITEUNTIL" => {
                if words.len() < 2 {
                    self.input.drain(..next);
                    self.reply(ERR_SYNTAX, false, "Wrong number of arguments");
                    return Need::Nothing;
                }
                let Some((data_end, after)) = until(&self.input[next..], rest.as_bytes()) else {
                    if !eof {
                        if self.input.len() > MAX_LINE + MAX_DATA {
                            self.reply(ERR_DATA_TOO_BIG, false, "Data too large");
                            self.close();
                            return Need::Nothing;
                        }
                        return Need::More;
                    }
                    self.input.clear();
                    self.reply(ERR_SYNTAX, false, "Not enough data");
                    return Need::Nothing;
                };
                let data = String::from_utf8_lossy(&self.input[next..next + data_end]).into_owned();
                self.input.drain(..next + after);
                if command.starts_with('R') {
                    self.read(words[1].1, &data, handlers);
                } else {
                    self.write(words[1].1, Value::Text(&data), handlers);
                }
                Need::Nothing
            }
            "CHECKREAD" | "CHECKWRITE" => {
                self.input.drain(..next);
                if words.len() != 2 {
                    self.reply(ERR_SYNTAX, false, "Wrong number of arguments");
                } else {
                    self.check(words[1].1, command == "CHECKWRITE", handlers);
                }
                Need::Nothing
            }
            "QUIT" | "CLOSE" => {
                self.input.drain(..next);
                if words.len() != 1 {
                    self.reply(ERR_SYNTAX, false, "Bad command syntax");
                }
                self.reply(OK, false, "Goodbye!");
                // What followed stays for `take_unread`.
                self.closed = true;
                Need::Nothing
            }
            "HELP" => {
                self.input.drain(..next);
                let help = [
                    "Commands:",
                    "READ HANDLER [PARAMS]     read a handler; the value follows as DATA",
                    "READDATA HANDLER N       read, with the next N bytes as parameters",
                    "READUNTIL HANDLER TERM   read, with the lines up to TERM as parameters",
                    "WRITE HANDLER [VALUE]    write a handler",
                    "WRITEDATA HANDLER N      write the next N bytes",
                    "WRITEUNTIL HANDLER TERM  write the lines up to TERM",
                    "CHECKREAD HANDLER        whether a handler can be read",
                    "CHECKWRITE HANDLER       whether a handler can be written",
                    "LLRPC ELEMENT#CMD [N]    not supported here",
                    "QUIT                     end the session",
                ];
                for (i, l) in help.iter().enumerate() {
                    self.reply(OK, i + 1 < help.len(), l);
                }
                Need::Nothing
            }
            _ => {
                self.input.drain(..next);
                self.reply(
                    ERR_UNIMPLEMENTED,
                    false,
                    &format!("Command '{command}' unimplemented"),
                );
                Need::Nothing
            }
        }
    }

    /// Resolves a handler name as given by the client: a leading `.` or `0.` names a
    /// global, an element number its element. `Err` after replying.
    fn resolve(&mut self, name: &str, handlers: &dyn Handlers) -> Result<String, ()> {
        let name = name
            .strip_prefix("0.")
            .or_else(|| name.strip_prefix('.'))
            .unwrap_or(name);
        let Some((element, handler)) = name.split_once('.') else {
            return Ok(name.into());
        };
        let Ok(n) = element.parse::<usize>() else {
            return Ok(name.into());
        };
        // `list` is the element count, then one name a line.
        let by_number = handlers
            .read("list", "")
            .ok()
            .and_then(|list| list.lines().nth(n).map(String::from))
            .filter(|_| n > 0);
        match by_number {
            Some(e) => Ok(format!("{e}.{handler}")),
            // An element may be named by digits only.
            None if handlers.mode(name).is_ok() => Ok(name.into()),
            None => {
                self.reply(
                    ERR_NO_SUCH_ELEMENT,
                    false,
                    &format!("No element named '{element}'"),
                );
                Err(())
            }
        }
    }

    fn no_such(&mut self, given: &str, error: &HandlerError) {
        match error {
            HandlerError::NoSuchElement(e) => self.reply(
                ERR_NO_SUCH_ELEMENT,
                false,
                &format!("No element named '{e}'"),
            ),
            _ => self.reply(
                ERR_NO_SUCH_HANDLER,
                false,
                &format!("No handler named '{given}'"),
            ),
        }
    }

    fn read(&mut self, given: &str, params: &str, handlers: &dyn Handlers) {
        let Ok(name) = self.resolve(given, handlers) else {
            return;
        };
        match handlers.read(&name, params) {
            Ok(value) => {
                self.reply(OK, false, &format!("Read handler '{given}' OK"));
                self.output
                    .extend_from_slice(format!("DATA {}\r\n", value.len()).as_bytes());
                self.output.extend_from_slice(value.as_bytes());
            }
            Err(e @ HandlerError::NoSuchHandler(_)) => match handlers.mode(&name) {
                Ok(Some(Mode { read: false, .. })) => self.reply(
                    ERR_PERMISSION,
                    false,
                    &format!("Handler '{given}' write-only"),
                ),
                _ => self.no_such(given, &e),
            },
            Err(e @ HandlerError::NoSuchElement(_)) => self.no_such(given, &e),
            Err(HandlerError::BadValue(message)) => self.reply_lines(
                ERR_UNSPECIFIED,
                &format!("Read handler '{given}' error"),
                &message,
            ),
        }
    }

    fn write(&mut self, given: &str, value: Value<'_>, handlers: &dyn Handlers) {
        let Ok(name) = self.resolve(given, handlers) else {
            return;
        };
        if self.read_only {
            match handlers.mode(&name) {
                Ok(Some(Mode { write: true, .. })) => self.reply(
                    ERR_PERMISSION,
                    false,
                    &format!("Permission denied for '{given}'"),
                ),
                Ok(Some(_)) => self.reply(
                    ERR_PERMISSION,
                    false,
                    &format!("Handler '{given}' read-only"),
                ),
                Ok(None) => self.no_such(given, &HandlerError::NoSuchHandler(name)),
                Err(e) => self.no_such(given, &e),
            }
            return;
        }
        let written = match value {
            Value::Text(text) => handlers.write(&name, text),
            Value::Data(data) => handlers.write_data(&name, data),
        };
        match written {
            Ok(()) => self.reply(OK, false, &format!("Write handler '{given}' OK")),
            Err(e @ HandlerError::NoSuchHandler(_)) => match handlers.mode(&name) {
                Ok(Some(Mode { write: false, .. })) => self.reply(
                    ERR_PERMISSION,
                    false,
                    &format!("Handler '{given}' read-only"),
                ),
                _ => self.no_such(given, &e),
            },
            Err(e @ HandlerError::NoSuchElement(_)) => self.no_such(given, &e),
            Err(HandlerError::BadValue(message)) => self.reply_lines(
                ERR_HANDLER,
                &format!("Write handler '{given}' error"),
                &message,
            ),
        }
    }

    fn check(&mut self, given: &str, write: bool, handlers: &dyn Handlers) {
        let Ok(name) = self.resolve(given, handlers) else {
            return;
        };
        let mode = match handlers.mode(&name) {
            Ok(Some(mode)) => mode,
            Ok(None) => return self.no_such(given, &HandlerError::NoSuchHandler(name)),
            Err(e) => return self.no_such(given, &e),
        };
        let ok = if write { mode.write } else { mode.read };
        if ok && write && self.read_only {
            self.reply(
                ERR_PERMISSION,
                false,
                &format!("Permission denied for '{given}'"),
            );
        } else if ok {
            let kind = if write { "Write" } else { "Read" };
            self.reply(OK, false, &format!("{kind} handler '{given}' OK"));
        } else {
            let not = if write { "writable" } else { "readable" };
            self.reply(
                ERR_NO_SUCH_HANDLER,
                false,
                &format!("Handler '{given}' not {not}"),
            );
        }
    }

    fn llrpc(&mut self, given: &str, handlers: &dyn Handlers) {
        let valid = given.split_once('#').is_some_and(|(_, cmd)| {
            !cmd.is_empty() && u32::from_str_radix(cmd.trim_start_matches("0x"), 16).is_ok()
        });
        if !valid {
            return self.reply(
                ERR_SYNTAX,
                false,
                &format!("Syntax error in LLRPC name '{given}'"),
            );
        }
        let element = given.split_once('#').map_or(given, |(e, _)| e);
        let Ok(name) = self.resolve(&format!("{element}.name"), handlers) else {
            return;
        };
        match handlers.mode(&name) {
            Err(e) => self.no_such(given, &e),
            Ok(_) => self.reply(
                ERR_UNIMPLEMENTED,
                false,
                &format!("Cannot call LLRPC '{given}' remotely"),
            ),
        }
    }
}

/// The words of `line` (split at ASCII whitespace), with their byte offsets.
fn words(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_ascii_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

/// For `READUNTIL`/`WRITEUNTIL`: where the data in `input` ends (the start of the first line
/// that is `term`, trailing whitespace aside) and where the input after that line starts.
fn until(input: &[u8], term: &[u8]) -> Option<(usize, usize)> {
    let mut start = 0;
    while start <= input.len() {
        let end = start
            + input[start..]
                .iter()
                .position(|&b| b == b'\r' || b == b'\n')?;
        let mut content = &input[start..end];
        while let [rest @ .., last] = content {
            if last.is_ascii_whitespace() {
                content = rest;
            } else {
                break;
            }
        }
        let after = if input[end] == b'\r' && input.get(end + 1) == Some(&b'\n') {
            end + 2
        } else {
            end + 1
        };
        if content == term {
            return Some((start, after));
        }
        start = after;
    }
    None
}

/// A reply line as a client sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The status code.
    pub code: u16,
    /// `CODE-...`: more lines of this reply follow.
    pub more: bool,
    /// The message.
    pub message: &'a str,
}

/// Parses a reply line (its line end may be included); `None` when it is not one.
pub fn parse_reply(line: &str) -> Option<Reply<'_>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let code = line.get(..3)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let more = match line.as_bytes().get(3) {
        None | Some(b' ') => false,
        Some(b'-') => true,
        Some(_) => return None,
    };
    Some(Reply {
        code: code.parse().ok()?,
        more,
        message: line.get(4..).unwrap_or(""),
    })
}

/// Parses the `DATA N` line that precedes a read's value.
pub fn parse_data(line: &str) -> Option<usize> {
    line.trim_end_matches(['\r', '\n'])
        .strip_prefix("DATA ")?
        .parse()
        .ok()
}

/// The command that reads `handler`.
pub fn read_request(handler: &str) -> String {
    format!("READ {handler}\r\n")
}

/// The command that writes `value` to `handler` (`WRITEDATA` when the value spans lines or
/// has leading or trailing space, which `WRITE` would lose).
pub fn write_request(handler: &str, value: &str) -> String {
    if value.contains(['\r', '\n']) || value.trim() != value {
        format!("WRITEDATA {handler} {}\r\n{value}", value.len())
    } else if value.is_empty() {
        format!("WRITE {handler}\r\n")
    } else {
        format!("WRITE {handler} {value}\r\n")
    }
}

/// The command that ends a session.
pub const QUIT: &str = "QUIT\r\n";

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;

    struct Fake {
        written: RefCell<Vec<(String, String)>>,
    }

    impl Handlers for Fake {
        fn read(&self, name: &str, params: &str) -> Result<String, HandlerError> {
            match (name, params) {
                ("c.count", "") => Ok("42".into()),
                ("c.count", _) => Err(HandlerError::BadValue("takes no parameters".into())),
                ("s.add", p) => Ok(p
                    .split_whitespace()
                    .map(|w| w.parse::<i64>().unwrap_or(0))
                    .sum::<i64>()
                    .to_string()),
                ("list", _) => Ok("2\nc\ns\n".into()),
                (n, _) if n.starts_with("nope.") => Err(HandlerError::NoSuchElement("nope".into())),
                (n, _) => Err(HandlerError::NoSuchHandler(n.into())),
            }
        }
        fn write(&self, name: &str, value: &str) -> Result<(), HandlerError> {
            match name {
                "c.reset" | "src.active" if value != "bad" => {
                    self.written.borrow_mut().push((name.into(), value.into()));
                    Ok(())
                }
                "c.reset" | "src.active" => Err(HandlerError::BadValue(
                    "expected a boolean\nsecond line".into(),
                )),
                n if n.starts_with("nope.") => Err(HandlerError::NoSuchElement("nope".into())),
                n => Err(HandlerError::NoSuchHandler(n.into())),
            }
        }
        fn mode(&self, name: &str) -> Result<Option<Mode>, HandlerError> {
            let (read, write) = match name {
                "c.count" => (true, false),
                "c.reset" => (false, true),
                "src.active" => (true, true),
                n => {
                    let element = n.split_once('.').map_or("", |(e, _)| e);
                    if ["", "c", "s", "src"].contains(&element) {
                        return Ok(None);
                    }
                    return Err(HandlerError::NoSuchElement(element.into()));
                }
            };
            Ok(Some(Mode { read, write }))
        }
    }

    fn fake() -> Fake {
        Fake {
            written: RefCell::new(Vec::new()),
        }
    }

    fn run(session: &mut Session, input: &[u8], eof: bool) -> String {
        let h = fake();
        session.feed(input);
        session.process(&h, eof);
        String::from_utf8(core::mem::take(session.output())).unwrap()
    }

    fn one(input: &str) -> String {
        run(&mut Session::new(false), input.as_bytes(), false)
    }

    #[test]
    fn reads_and_frames_data() {
        assert_eq!(
            one("READ c.count\r\n"),
            "200 Read handler 'c.count' OK\r\nDATA 2\r\n42"
        );
        assert_eq!(
            one("read s.add 1  2\n"),
            "200 Read handler 's.add' OK\r\nDATA 1\r\n3"
        );
        assert_eq!(
            one("READ 2.add 5\r\n"),
            "200 Read handler '2.add' OK\r\nDATA 1\r\n5"
        );
        assert_eq!(
            one("READ .c.count\r\n"),
            "200 Read handler '.c.count' OK\r\nDATA 2\r\n42"
        );
    }

    #[test]
    fn error_codes() {
        assert_eq!(one("READ nope.x\r\n"), "510 No element named 'nope'\r\n");
        assert_eq!(one("READ c.zz\r\n"), "511 No handler named 'c.zz'\r\n");
        assert_eq!(
            one("READ c.reset\r\n"),
            "530 Handler 'c.reset' write-only\r\n"
        );
        assert_eq!(
            one("WRITE c.count 1\r\n"),
            "530 Handler 'c.count' read-only\r\n"
        );
        assert_eq!(
            one("READ c.count x\r\n"),
            "590-Read handler 'c.count' error:\r\n590 takes no parameters\r\n"
        );
        assert_eq!(
            one("WRITE src.active bad\r\n"),
            "520-Write handler 'src.active' error:\r\n520-expected a boolean\r\n520 second line\r\n"
        );
        assert_eq!(one("READ\r\n"), "500 Wrong number of arguments\r\n");
        assert_eq!(one("FROB x\r\n"), "501 Command 'FROB' unimplemented\r\n");
        assert_eq!(one("READ 9.count\r\n"), "510 No element named '9'\r\n");
        assert_eq!(
            one("LLRPC c#1\r\n"),
            "501 Cannot call LLRPC 'c#1' remotely\r\n"
        );
        assert_eq!(
            one("LLRPC c#zz\r\n"),
            "500 Syntax error in LLRPC name 'c#zz'\r\n"
        );
        assert_eq!(one("READ c.\x01\r\n"), "511 No handler named 'c.^A'\r\n");
    }

    #[test]
    fn checks() {
        assert_eq!(
            one("CHECKREAD c.count\r\n"),
            "200 Read handler 'c.count' OK\r\n"
        );
        assert_eq!(
            one("CHECKWRITE c.count\r\n"),
            "511 Handler 'c.count' not writable\r\n"
        );
        assert_eq!(
            one("checkwrite c.reset\r\n"),
            "200 Write handler 'c.reset' OK\r\n"
        );
        assert_eq!(one("CHECKREAD c.zz\r\n"), "511 No handler named 'c.zz'\r\n");
        assert_eq!(
            one("CHECKREAD nope.a\r\n"),
            "510 No element named 'nope'\r\n"
        );
    }

    /// Keeps the bytes of `WRITEDATA blob N` as they came.
    struct Binary(RefCell<Vec<u8>>);

    impl Handlers for Binary {
        fn read(&self, name: &str, _: &str) -> Result<String, HandlerError> {
            Err(HandlerError::NoSuchHandler(name.into()))
        }
        fn write(&self, name: &str, _: &str) -> Result<(), HandlerError> {
            Err(HandlerError::NoSuchHandler(name.into()))
        }
        fn write_data(&self, name: &str, data: &[u8]) -> Result<(), HandlerError> {
            if name != "blob" {
                return Err(HandlerError::NoSuchHandler(name.into()));
            }
            self.0.borrow_mut().extend_from_slice(data);
            Ok(())
        }
        fn mode(&self, _: &str) -> Result<Option<Mode>, HandlerError> {
            Ok(None)
        }
    }

    #[test]
    fn writedata_hands_on_bytes_that_are_not_text() {
        let h = Binary(RefCell::new(Vec::new()));
        let mut s = Session::new(false);
        let blob: Vec<u8> = (0..=255u8).rev().chain([b'\r', b'\n', 0xff]).collect();
        s.feed(format!("WRITEDATA blob {}\r\n", blob.len()).as_bytes());
        s.feed(&blob[..100]);
        s.process(&h, false);
        s.feed(&blob[100..]);
        s.feed(b"WRITE blob x\r\n");
        s.process(&h, false);
        assert_eq!(
            String::from_utf8(core::mem::take(s.output())).unwrap(),
            "200 Write handler 'blob' OK\r\n511 No handler named 'blob'\r\n"
        );
        assert_eq!(*h.0.borrow(), blob);
    }

    #[test]
    fn writes_with_data_and_until() {
        let h = fake();
        let mut s = Session::new(false);
        s.feed(b"WRITEDATA src.active 5\r\nfal");
        s.process(&h, false);
        assert!(s.output().is_empty(), "waits for the data");
        s.feed(b"seWRITE c.reset  a  b \r\nWRITEUNTIL c.reset END\r\nx\r\n y\r\nEND  \r\n");
        s.process(&h, false);
        assert_eq!(
            String::from_utf8(core::mem::take(s.output())).unwrap(),
            "200 Write handler 'src.active' OK\r\n200 Write handler 'c.reset' OK\r\n\
             200 Write handler 'c.reset' OK\r\n"
        );
        assert_eq!(
            *h.written.borrow(),
            [
                ("src.active".into(), "false".into()),
                ("c.reset".into(), "a  b".into()),
                ("c.reset".into(), "x\r\n y\r\n".into())
            ]
        );
    }

    #[test]
    fn read_only_refuses_writes() {
        let mut s = Session::new(true);
        assert_eq!(
            run(
                &mut s,
                b"WRITE c.reset\r\nCHECKWRITE c.reset\r\nWRITE c.count 1\r\n",
                false
            ),
            "530 Permission denied for 'c.reset'\r\n530 Permission denied for 'c.reset'\r\n\
             530 Handler 'c.count' read-only\r\n"
        );
    }

    #[test]
    fn quit_closes_and_ignores_the_rest() {
        let mut s = Session::new(false);
        s.greet();
        assert_eq!(
            run(&mut s, b"QUIT now\r\nREAD c.count\r\n", false),
            "Click::ControlSocket/1.3\r\n500 Bad command syntax\r\n200 Goodbye!\r\n"
        );
        assert!(s.is_closed());
        assert_eq!(run(&mut s, b"READ x\r\n", false), "");
        assert_eq!(s.take_unread(), b"READ c.count\r\n");
    }

    #[test]
    fn bad_input_is_answered_not_fatal() {
        // Garbage bytes, an empty line, an incomplete line at EOF.
        let mut s = Session::new(false);
        assert_eq!(
            run(&mut s, b"\xff\xfe\x00\r\n\r\n\nREAD c.count", true),
            "501 Command '\u{fffd}\u{fffd}^@' unimplemented\r\n\
             200 Read handler 'c.count' OK\r\nDATA 2\r\n42"
        );
        // Data promised but never sent.
        let mut s = Session::new(false);
        assert_eq!(
            run(&mut s, b"WRITEDATA c.reset 10\r\nabc", true),
            "500 Not enough data\r\n"
        );
        assert_eq!(
            one("READDATA c.count x\r\n"),
            "500 Syntax error in 'READDATA'\r\n"
        );
        // An overlong line ends the session.
        let mut s = Session::new(false);
        let long = vec![b'a'; MAX_LINE + 10];
        assert_eq!(run(&mut s, &long, false), "500 Line too long\r\n");
        assert!(s.is_closed());
        // Too much data is skipped, and the next command is understood.
        let mut s = Session::new(false);
        let mut input = format!("WRITEDATA c.reset {}\r\n", MAX_DATA + 3).into_bytes();
        input.extend(vec![b'z'; MAX_DATA]);
        assert_eq!(
            run(&mut s, &input, false),
            "521 Data too large for handler 'c.reset'\r\n"
        );
        assert_eq!(
            run(&mut s, b"zzzREAD c.count\n", false),
            "200 Read handler 'c.count' OK\r\nDATA 2\r\n42"
        );
    }

    #[test]
    fn random_input_in_random_pieces_never_panics_and_replies_are_lines() {
        let pieces: [&[u8]; 14] = [
            b"READ ",
            b"WRITE ",
            b"READDATA ",
            b"WRITEUNTIL ",
            b"c.count",
            b"src.active",
            b" 3",
            b" 99999999999999999999",
            b"\r",
            b"\n",
            b"\xff",
            b"QUIT",
            b"LLRPC c#",
            b" ",
        ];
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        let h = fake();
        for _ in 0..300 {
            let mut s = Session::new(next() % 2 == 0);
            s.greet();
            let mut out = Vec::new();
            for _ in 0..(next() % 40) {
                let mut chunk = Vec::new();
                for _ in 0..(next() % 6) {
                    chunk.extend_from_slice(pieces[next() as usize % pieces.len()]);
                }
                s.feed(&chunk);
                s.process(&h, false);
                out.append(s.output());
            }
            s.process(&h, true);
            out.append(s.output());
            // Every line that is not data is a greeting, a reply or a DATA header.
            let text = String::from_utf8_lossy(&out).into_owned();
            let mut rest = text.as_str();
            while let Some((line, after)) = rest.split_once("\r\n") {
                if let Some(n) = parse_data(line) {
                    rest = after.get(n..).unwrap_or("");
                    continue;
                }
                assert!(
                    line.starts_with("Click::") || parse_reply(line).is_some(),
                    "{line:?} in {text:?}"
                );
                rest = after;
            }
        }
    }

    #[test]
    fn lone_cr_then_lf_is_one_line_end() {
        let h = fake();
        let mut s = Session::new(false);
        s.feed(b"READ c.count\r");
        s.process(&h, false);
        s.feed(b"\nREAD c.count\n");
        s.process(&h, false);
        let out = String::from_utf8(core::mem::take(s.output())).unwrap();
        assert_eq!(out.matches("DATA 2").count(), 2, "{out}");
    }

    #[test]
    fn client_side_parsing() {
        assert_eq!(
            parse_reply("520-Write handler 'x' error:\r\n"),
            Some(Reply {
                code: 520,
                more: true,
                message: "Write handler 'x' error:"
            })
        );
        assert_eq!(parse_reply("200 Goodbye!").map(|r| r.more), Some(false));
        assert_eq!(parse_reply("Click::ControlSocket/1.3"), None);
        assert_eq!(parse_reply("20x ok"), None);
        assert_eq!(parse_data("DATA 12\r\n"), Some(12));
        assert_eq!(parse_data("DATA x"), None);
        assert_eq!(write_request("c.reset", ""), "WRITE c.reset\r\n");
        assert_eq!(write_request("a.b", "x\ny"), "WRITEDATA a.b 3\r\nx\ny");
    }
}
