#!/usr/bin/env python3
"""Writes the differential scenarios' capture files, deterministically (run from anywhere).

snapped.pcap: Ethernet/IPv4 frames of 60 to 9014 bytes, some captured whole and some cut
short by a snap length (captured length < wire length), as tcpdump -s writes them.
nano.pcap: a nanosecond-resolution capture whose timestamps do and do not fall on whole
microseconds.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(proto, src, dst, l4, ident):
    total = 20 + len(l4)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, 0, 64, proto, 0,
                      bytes(src), bytes(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + l4


def pseudo(src, dst, proto, l4):
    return struct.pack("!4s4sBBH", bytes(src), bytes(dst), 0, proto, len(l4)) + l4


def udp(src, dst, sport, dport, payload, ident):
    l4 = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = csum(pseudo(src, dst, 17, l4)) or 0xFFFF
    l4 = l4[:6] + struct.pack("!H", c) + l4[8:]
    return ipv4(17, src, dst, l4, ident)


def tcp_syn(src, dst, sport, dport, ident):
    l4 = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 0x50, 0x02, 65535, 0, 0)
    c = csum(pseudo(src, dst, 6, l4))
    l4 = l4[:16] + struct.pack("!H", c) + l4[18:]
    return ipv4(6, src, dst, l4, ident)


def ether(ip):
    return bytes.fromhex("020000000002") + bytes.fromhex("020000000001") + b"\x08\x00" + ip


def payload(n, seed):
    return bytes((seed + 7 * i) & 0xFF for i in range(n))


LAN = [10, 0, 0, 1]
LAN2 = [10, 0, 0, 7]
WAN = [198, 51, 100, 9]


def frames():
    """(frame, captured length) pairs; None captures the whole frame."""
    out = []
    ident = 1

    def add(ip, cap=None):
        nonlocal ident
        out.append((ether(ip), cap))
        ident += 1

    add(udp(LAN, WAN, 1000, 53, payload(18, 1), ident))              # 60 B
    add(udp(LAN, WAN, 1001, 53, payload(1472, 2), ident))            # 1514 B
    add(udp(LAN, WAN, 1002, 53, payload(1472, 3), ident), 64)        # 1514 B, 64 captured
    add(tcp_syn(LAN2, WAN, 4000, 80, ident))                         # 54 B
    add(udp(LAN, WAN, 1003, 53, payload(8972, 4), ident))            # 9014 B jumbo
    add(udp(LAN2, WAN, 1004, 53, payload(8972, 5), ident), 2000)     # jumbo, 2000 captured
    add(udp(LAN, WAN, 1005, 53, payload(158, 6), ident), 42)         # headers only
    add(udp(LAN2, WAN, 1006, 53, payload(58, 7), ident), 30)         # cut inside the IP header
    add(udp(LAN, WAN, 1007, 53, payload(4000, 8), ident))            # 4042 B
    add(udp(LAN2, WAN, 1008, 53, payload(18, 9), ident))             # 60 B, after the big ones
    return out


def write_pcap(path, records, snaplen=65535, nano=False, subsec=lambda i: 1000 * i):
    with open(path, "wb") as f:
        magic = 0xA1B23C4D if nano else 0xA1B2C3D4
        f.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, 1))
        for i, (frame, cap) in enumerate(records):
            data = frame if cap is None else frame[:cap]
            f.write(struct.pack("<IIII", 1_000_000 + i, subsec(i), len(data), len(frame)))
            f.write(data)


NANO_SUBSECONDS = [123456789, 5000, 7, 999999999, 1000, 0]


if __name__ == "__main__":
    write_pcap(os.path.join(HERE, "snapped.pcap"), frames())
    write_pcap(os.path.join(HERE, "nano.pcap"), frames()[:len(NANO_SUBSECONDS)], nano=True,
               subsec=lambda i: NANO_SUBSECONDS[i])
