//! The host control interface: `sluice run --ctl PATH` / `-u PATH` / `-p PORT` and the
//! `ControlSocket` element, spoken to by `sluice ctl` and by a raw client that speaks Click's
//! ControlSocket protocol byte for byte (the replies are Click 2.1's, as `click` gives them
//! for the same commands). Every `sluice run` started here is killed when its guard drops,
//! also when an assertion fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::process::{wait_for_file, Run, Scratch, PATIENCE};
use common::{sluice, text};

/// A source that never runs out, counted.
const COUNTING: &str = "src :: RatedSource(RATE 1000) -> c :: Counter -> Discard;";

/// Sends `input` after the greeting and reads until the server closes the connection.
/// Returns the greeting and everything after it.
fn converse<S: Read + Write>(stream: S, input: &[u8]) -> (String, String) {
    let mut reader = BufReader::new(stream);
    let mut greeting = String::new();
    reader.read_line(&mut greeting).unwrap();
    // A server that closes early (an overlong line) may leave part of it unsent.
    let _ = reader.get_mut().write_all(input);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    (greeting, text(&rest))
}

fn unix(path: &Path, input: &[u8]) -> (String, String) {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    converse(s, input)
}

fn ctl(args: &[&str]) -> std::process::Output {
    let mut all = vec!["ctl"];
    all.extend_from_slice(args);
    sluice(&all)
}

/// `sluice ctl ... read HANDLER`'s value, which must succeed.
fn read(target: &[&str], handler: &str) -> String {
    let mut args = target.to_vec();
    args.extend(["read", handler]);
    let out = ctl(&args);
    assert!(
        out.status.success(),
        "sluice ctl {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim_end().to_string()
}

fn write(target: &[&str], handler: &str, value: &str) -> std::process::Output {
    let mut args = target.to_vec();
    args.extend(["write", handler, value]);
    ctl(&args)
}

#[test]
fn run_ctl_serves_the_control_protocol() {
    let dir = Scratch::new("run");
    let sock = dir.path("run.sock");
    let sock_s = sock.to_str().unwrap();
    let mut run = Run::start(&["--ctl", sock_s, "-e", COUNTING]);
    wait_for_file(&mut run, &sock);
    let target = [sock_s];

    // `sluice ctl` by path and with --socket.
    let n: u64 = read(&target, "c.count").parse().expect("a count");
    let m: u64 = read(&["--socket", sock_s], "c.count").parse().unwrap();
    assert!(m >= n, "{m} < {n}");
    assert_eq!(read(&target, "c.class"), "Counter");

    // Click's protocol, byte for byte.
    let (greeting, replies) = unix(
        &sock,
        b"READ c.class\r\nread nope.count\nREAD c.nope\r\nWRITE c.count 1\r\n\
          READ c.reset\r\nCHECKREAD c.count\r\nCHECKWRITE c.count\r\nFROB x\r\nREAD\r\n\
          LLRPC c#1\r\nREAD 2.class\r\nREAD c.class x\r\nQUIT\r\n",
    );
    assert_eq!(greeting, "Click::ControlSocket/1.3\r\n");
    assert_eq!(
        replies,
        "200 Read handler 'c.class' OK\r\nDATA 7\r\nCounter\
         510 No element named 'nope'\r\n\
         511 No handler named 'c.nope'\r\n\
         530 Handler 'c.count' read-only\r\n\
         530 Handler 'c.reset' write-only\r\n\
         200 Read handler 'c.count' OK\r\n\
         511 Handler 'c.count' not writable\r\n\
         501 Command 'FROB' unimplemented\r\n\
         500 Wrong number of arguments\r\n\
         501 Cannot call LLRPC 'c#1' remotely\r\n\
         200 Read handler '2.class' OK\r\nDATA 7\r\nCounter\
         590-Read handler 'c.class' error:\r\n\
         590 read handler 'c.class' does not take parameters\r\n\
         200 Goodbye!\r\n"
    );

    // A rejected value: the handler's message under code 520, and sluice ctl fails with it.
    let (_, replies) = unix(&sock, b"WRITE src.active maybe\r\nQUIT\r\n");
    assert!(
        replies.starts_with("520-Write handler 'src.active' error:\r\n520 "),
        "{replies}"
    );
    let out = write(&target, "src.active", "maybe");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("520"), "{}", text(&out.stderr));

    // Unknown names fail `sluice ctl` with the codes.
    let out = ctl(&[sock_s, "read", "nope.count"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("510 No element named 'nope'"),
        "{}",
        text(&out.stderr)
    );
    let out = ctl(&[sock_s, "read", "c.nope"]);
    assert!(text(&out.stderr).contains("511"), "{}", text(&out.stderr));

    // Writing a handler: the source stops, so the count stays put.
    let out = write(&target, "src.active", "false");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(read(&target, "src.active"), "false");
    let before = read(&target, "c.count");
    assert_eq!(read(&target, "c.count"), before);
    // WRITEDATA with the value in bytes after the command.
    let (_, replies) = unix(&sock, b"WRITEDATA src.active 4\r\ntrueQUIT\r\n");
    assert_eq!(
        replies,
        "200 Write handler 'src.active' OK\r\n200 Goodbye!\r\n"
    );
    assert_eq!(read(&target, "src.active"), "true");

    // Bad input: garbage gets an answer, an overlong line ends the connection, a client that
    // leaves mid-command is forgotten; the router serves on.
    let mut garbage = b"\xff\x00\x01zz\r\n".to_vec();
    garbage.extend(std::iter::repeat_n(b'a', 100_000));
    let (_, replies) = unix(&sock, &garbage);
    assert!(replies.starts_with("501 Command '"), "{replies}");
    assert!(replies.ends_with("500 Line too long\r\n"), "{replies}");
    {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(b"WRITEDATA src.active 100\r\nfal").unwrap();
    }
    {
        let mut s = UnixStream::connect(&sock).unwrap();
        s.write_all(b"READ c.cou").unwrap();
    }
    assert_eq!(read(&target, "c.class"), "Counter");

    // `stop` ends the run cleanly, and the socket file goes with it.
    let out = write(&target, "stop", "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, _, err) = run.wait();
    assert!(status.success(), "{status}: {err}");
    assert!(!sock.exists());
}

#[test]
fn click_flags_u_and_p_and_a_read_only_socket() {
    let dir = Scratch::new("flags");
    let sock = dir.path("u.sock");
    let sock_s = sock.to_str().unwrap();
    // A free port: the system's pick, released for sluice to take.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let mut run = Run::start(&["-u", sock_s, "-p", &port, "--ctl-read-only", "-e", COUNTING]);
    wait_for_file(&mut run, &sock);
    assert_eq!(read(&[sock_s], "c.class"), "Counter");
    let start = Instant::now();
    let stream = loop {
        match TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < PATIENCE => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("connect to port {port}: {e}"),
        }
    };
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let (greeting, replies) = converse(
        stream,
        b"READ c.class\r\nWRITE src.active false\r\nCHECKWRITE src.active\r\nQUIT\r\n",
    );
    assert_eq!(greeting, "Click::ControlSocket/1.3\r\n");
    assert_eq!(
        replies,
        "200 Read handler 'c.class' OK\r\nDATA 7\r\nCounter\
         530 Permission denied for 'src.active'\r\n\
         530 Permission denied for 'src.active'\r\n\
         200 Goodbye!\r\n"
    );
    assert_eq!(read(&["--port", &port], "src.active"), "true");
    let out = write(&["--port", &port], "stop", "");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("530"), "{}", text(&out.stderr));
    drop(run);
}

#[test]
fn control_socket_elements_serve_unix_and_tcp() {
    let dir = Scratch::new("element");
    let sock = dir.path("cs.sock");
    let portfile = dir.path("PORT");
    let config = format!(
        "tcp :: ControlSocket(tcp, 0, LOCALHOST true); \
         ControlSocket(unix, {}, READONLY true); {COUNTING} \
         s :: Script(print >{} $(tcp.port))",
        sock.display(),
        portfile.display()
    );
    let mut run = Run::start(&["-e", &config]);
    wait_for_file(&mut run, &sock);
    wait_for_file(&mut run, &portfile);
    let port = std::fs::read_to_string(&portfile)
        .unwrap()
        .trim()
        .to_string();
    assert!(port.parse::<u16>().is_ok_and(|p| p != 0), "{port}");
    let tcp = ["--port", port.as_str()];

    assert_eq!(read(&tcp, "tcp.port"), port);
    assert_eq!(read(&tcp, "c.class"), "Counter");
    // Script functions are read handlers with parameters.
    let stream = TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let (greeting, replies) = converse(
        stream,
        b"READ s.add 1 1\r\nREAD s.cat /etc/passwd\r\nCHECKREAD s.add\r\n\
          READ tcp.class\r\nQUIT\r\n",
    );
    assert_eq!(greeting, "Click::ControlSocket/1.3\r\n");
    assert_eq!(
        replies,
        "200 Read handler 's.add' OK\r\nDATA 1\r\n2\
         511 No handler named 's.cat'\r\n\
         200 Read handler 's.add' OK\r\n\
         200 Read handler 'tcp.class' OK\r\nDATA 13\r\nControlSocket\
         200 Goodbye!\r\n"
    );

    // The read-only one refuses writes; the other takes them.
    let (_, replies) = unix(&sock, b"WRITE src.active false\r\nQUIT\r\n");
    assert_eq!(
        replies,
        "530 Permission denied for 'src.active'\r\n200 Goodbye!\r\n"
    );
    let out = write(&tcp, "src.active", "false");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        read(&["--socket", sock.to_str().unwrap()], "src.active"),
        "false"
    );

    let out = write(&tcp, "stop", "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, _, err) = run.wait();
    assert!(status.success(), "{status}: {err}");
    assert!(!sock.exists(), "the element removes its socket file");
}

#[test]
fn a_control_socket_that_cannot_be_opened_is_an_error() {
    let dir = Scratch::new("bad");
    let sock = dir.path("missing-dir/x.sock");
    let out = sluice(&["run", "--ctl", sock.to_str().unwrap(), "-e", COUNTING]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("control socket"), "{err}");
    let config = format!("ControlSocket(unix, {}); {COUNTING}", sock.display());
    let out = sluice(&["run", "-e", &config]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bind"), "{err}");
}

/// `sluice ctl --json`: one JSON object per answer, errors with the socket's status code,
/// and the same exit statuses as without it.
#[test]
fn ctl_json_prints_values_statuses_and_errors() {
    let dir = Scratch::new("ctl-json");
    let sock = dir.path("run.sock");
    let sock_s = sock.to_str().unwrap();
    let mut run = Run::start(&["-R", "--ctl", sock_s, "-e", COUNTING]);
    wait_for_file(&mut run, &sock);
    let json = |args: &[&str]| {
        let out = ctl(args);
        let stdout = text(&out.stdout);
        let line = stdout.trim_end();
        assert_eq!(line.lines().count(), 1, "one line: {stdout}");
        (out.status.success(), line.to_string(), text(&out.stderr))
    };

    let (ok, line, _) = json(&[sock_s, "read", "c.class", "--json"]);
    assert!(ok, "{line}");
    assert_eq!(line, r#"{"handler": "c.class", "value": "Counter"}"#);
    // The flag may come before the target, too.
    let (ok, line, _) = json(&["--json", sock_s, "read", "c.count"]);
    assert!(ok, "{line}");
    let count = line
        .strip_prefix(r#"{"handler": "c.count", "value": ""#)
        .and_then(|v| v.strip_suffix(r#""}"#))
        .unwrap_or_else(|| panic!("{line}"));
    count.trim().parse::<u64>().expect("a count");

    let (ok, line, _) = json(&[sock_s, "write", "c.reset", "--json"]);
    assert!(ok, "{line}");
    assert_eq!(line, r#"{"handler": "c.reset", "status": "ok"}"#);

    let new = dir.file("new.click", COUNTING.replace("1000", "500").as_str());
    let (ok, line, _) = json(&[sock_s, "hotconfig", new.to_str().unwrap(), "--json"]);
    assert!(ok, "{line}");
    assert_eq!(
        line,
        format!(
            r#"{{"handler": "hotconfig", "status": "ok", "file": "{}"}}"#,
            new.display()
        )
    );
    assert!(read(&[sock_s], "config").contains("RATE 500"));

    // Refused by the router: its status code and message, exit status 1 as without --json.
    let (ok, line, _) = json(&[sock_s, "read", "c.nope", "--json"]);
    assert!(!ok, "{line}");
    assert!(
        line.starts_with(r#"{"error": {"code": 511, "message": ""#),
        "{line}"
    );
    assert!(line.contains("c.nope"), "{line}");
    let plain = ctl(&[sock_s, "read", "c.nope"]);
    assert_eq!(plain.status.code(), Some(1));
    assert!(
        text(&plain.stderr).contains("511"),
        "{}",
        text(&plain.stderr)
    );
    let (ok, line, _) = json(&[sock_s, "read", "nope.count", "--json"]);
    assert!(!ok);
    assert!(line.starts_with(r#"{"error": {"code": 510, "#), "{line}");

    // A file with errors never reaches the router: no code, the diagnostics as the message.
    let bad = dir.file("bad.click", "src :: RatedSource -> ;\n");
    let (ok, line, err) = json(&[sock_s, "hotconfig", bad.to_str().unwrap(), "--json"]);
    assert!(!ok, "{line}");
    assert!(
        line.starts_with(r#"{"error": {"code": null, "message": ""#),
        "{line}"
    );
    assert!(line.contains("bad.click:1:"), "{line}");
    assert!(err.is_empty(), "everything on standard output: {err}");

    // No one listening: no code either.
    let gone = dir.path("gone.sock");
    let (ok, line, _) = json(&[gone.to_str().unwrap(), "read", "c.count", "--json"]);
    assert!(!ok);
    assert!(
        line.starts_with(r#"{"error": {"code": null, "message": "cannot connect"#),
        "{line}"
    );

    let out = write(&[sock_s], "stop", "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, _, err) = run.wait();
    assert!(status.success(), "{err}");
}
