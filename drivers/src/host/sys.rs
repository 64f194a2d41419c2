//! Thin wrappers over the Linux calls the host devices make. Every `unsafe` block of the
//! host devices is here.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::string::String;

/// Interface names are at most 15 bytes (`IFNAMSIZ` with its NUL).
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty interface name".into());
    }
    if name.len() >= libc::IFNAMSIZ {
        return Err(format!(
            "interface name '{name}' is longer than {} bytes",
            libc::IFNAMSIZ - 1
        ));
    }
    if name
        .bytes()
        .any(|b| b == 0 || b == b'/' || b.is_ascii_whitespace() || b == b':')
    {
        return Err(format!("'{name}' is not a valid interface name"));
    }
    Ok(())
}

/// A zeroed `ifreq` naming `name` (checked by [`check_ifname`]).
fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is a plain C struct (a name array and a union of integers and
    // addresses); all-zero bytes are a valid value of it.
    let mut r: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in r
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    r
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cvt_size(r: isize) -> io::Result<usize> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// Opens the TUN/TAP clone device, non-blocking.
pub fn open_tun() -> io::Result<OwnedFd> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    Ok(OwnedFd::from(f))
}

/// Attaches `fd` to the TAP interface `name` (created if needed); returns the name the
/// kernel used.
pub fn tun_set_tap(fd: &OwnedFd, name: &str) -> io::Result<String> {
    let mut r = ifreq(name);
    r.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `ifreq`, which `r` is, for its whole duration;
    // `fd` is an open descriptor of /dev/net/tun.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut r as *mut libc::ifreq) })?;
    let end = r
        .ifr_name
        .iter()
        .position(|&c| c == 0)
        .unwrap_or(r.ifr_name.len());
    Ok(r.ifr_name[..end].iter().map(|&c| c as u8 as char).collect())
}

/// A socket for interface ioctls.
fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The Ethernet address of interface `name`.
pub fn hw_addr(name: &str) -> io::Result<[u8; 6]> {
    let s = control_socket()?;
    let mut r = ifreq(name);
    // SAFETY: SIOCGIFHWADDR fills the `ifreq` that `r` is; `s` is an open socket.
    cvt(unsafe {
        libc::ioctl(
            s.as_raw_fd(),
            libc::SIOCGIFHWADDR,
            &mut r as *mut libc::ifreq,
        )
    })?;
    // SAFETY: after SIOCGIFHWADDR succeeds the union holds `ifru_hwaddr`.
    let sa = unsafe { r.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}

/// Sets interface `name` up.
pub fn set_up(name: &str) -> io::Result<()> {
    let s = control_socket()?;
    let mut r = ifreq(name);
    // SAFETY: SIOCGIFFLAGS fills the `ifreq` that `r` is; `s` is an open socket.
    cvt(unsafe {
        libc::ioctl(
            s.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut r as *mut libc::ifreq,
        )
    })?;
    // SAFETY: after SIOCGIFFLAGS succeeds the union holds `ifru_flags`.
    let flags = unsafe { r.ifr_ifru.ifru_flags };
    r.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads the `ifreq` that `r` is.
    cvt(unsafe {
        libc::ioctl(
            s.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &mut r as *mut libc::ifreq,
        )
    })?;
    Ok(())
}

/// The index of interface `name`.
pub fn if_index(name: &str) -> io::Result<libc::c_int> {
    let s = control_socket()?;
    let mut r = ifreq(name);
    // SAFETY: SIOCGIFINDEX fills the `ifreq` that `r` is; `s` is an open socket.
    cvt(unsafe {
        libc::ioctl(
            s.as_raw_fd(),
            libc::SIOCGIFINDEX,
            &mut r as *mut libc::ifreq,
        )
    })?;
    // SAFETY: after SIOCGIFINDEX succeeds the union holds `ifru_ifindex`.
    Ok(unsafe { r.ifr_ifru.ifru_ifindex })
}

const ETH_P_ALL_BE: u16 = (libc::ETH_P_ALL as u16).to_be();

/// A non-blocking `AF_PACKET` raw socket bound to interface `ifindex`, seeing every
/// protocol.
pub fn packet_socket(ifindex: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::c_int::from(ETH_P_ALL_BE),
        )
    })?;
    // SAFETY: `fd` was just returned by socket(2) and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: `sockaddr_ll` is a plain C struct; zero bytes are a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL_BE;
    sll.sll_ifindex = ifindex;
    // SAFETY: bind(2) reads `size_of::<sockaddr_ll>()` bytes at the pointer, which is `sll`.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Makes the interface of a packet socket promiscuous while the socket is open.
pub fn add_promiscuous(fd: &OwnedFd, ifindex: libc::c_int) -> io::Result<()> {
    // SAFETY: `packet_mreq` is a plain C struct; zero bytes are a valid value.
    let mut m: libc::packet_mreq = unsafe { std::mem::zeroed() };
    m.mr_ifindex = ifindex;
    m.mr_type = libc::PACKET_MR_PROMISC as u16;
    // SAFETY: setsockopt(2) reads `size_of::<packet_mreq>()` bytes at the pointer, which is `m`.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            (&m as *const libc::packet_mreq).cast::<libc::c_void>(),
            std::mem::size_of::<libc::packet_mreq>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Reads one frame into `buf`.
#[inline]
pub fn read(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: read(2) writes at most `buf.len()` bytes into `buf`, which we borrow mutably.
    cvt_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// Writes one frame.
#[inline]
pub fn write(fd: &OwnedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: write(2) reads at most `buf.len()` bytes from `buf`.
    cvt_size(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// Receives one frame from a packet socket into `buf`: its full length (which may exceed
/// `buf.len()`: `MSG_TRUNC`) and its packet type (`PACKET_HOST`, `PACKET_OUTGOING`, ...).
#[inline]
pub fn recv_frame(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, u8)> {
    // SAFETY: `sockaddr_ll` is a plain C struct; zero bytes are a valid value.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: recvfrom(2) writes at most `buf.len()` bytes into `buf` and at most `len`
    // bytes of address into `from`, both borrowed mutably for the call.
    let n = cvt_size(unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_TRUNC,
            (&mut from as *mut libc::sockaddr_ll).cast::<libc::sockaddr>(),
            &mut len,
        )
    })?;
    Ok((n, from.sll_pkttype))
}

/// Sends one frame on a bound packet socket.
#[inline]
pub fn send(fd: &OwnedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: send(2) reads at most `buf.len()` bytes from `buf`.
    cvt_size(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) })
}

/// An OS error as a user reads it: `Operation not permitted`, without `(os error 1)`.
pub fn describe(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].into(),
        None => s,
    }
}
