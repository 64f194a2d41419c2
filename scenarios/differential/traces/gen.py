#!/usr/bin/env python3
"""Writes the differential scenarios' capture files, deterministically (run from anywhere).

snapped.pcap: Ethernet/IPv4 frames of 60 to 9014 bytes, some captured whole and some cut
short by a snap length (captured length < wire length), as tcpdump -s writes them.
nano.pcap: a nanosecond-resolution capture whose timestamps do and do not fall on whole
microseconds.
router.pcap: what the two interfaces of a router see, one capture (hosts on eth0 have
Ethernet addresses 02:00:00:00:00:xx, those on eth1 02:00:00:00:01:xx): ARP requests and
replies, IP across, to the router and to broadcast addresses, TTL 1, IP options good and
bad, packets too big for an MTU with and without DF, bad checksums, cut and bad headers.
vlan.pcap: untagged, 802.1Q (with and without priority bits) and QinQ (0x88a8) frames, and
frames whose tag is cut short.
firewall.pcap: TCP, UDP and ICMP over IP, fragments, IP options, cut TCP headers, IP
headers with IHL < 5, an empty frame and frames of other ethertypes.
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


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def ip4(text):
    return bytes(int(x) for x in text.split("."))


def eth(dst, src, ethertype, body):
    return mac(dst) + mac(src) + struct.pack("!H", ethertype) + body


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, mac(sha), ip4(spa), mac(tha),
                       ip4(tpa))


def ip_packet(src, dst, proto, l4, ident, ttl=64, frag=0, options=b"", tos=0,
              checksum=None, ihl=None, total=None):
    """An IPv4 header (with OPTIONS, padded to 4 bytes) and L4; FRAG holds the flags and
    fragment offset field; CHECKSUM, IHL and TOTAL override the computed values."""
    options += b"\0" * (-len(options) % 4)
    hlen = 20 + len(options)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ((hlen // 4) if ihl is None else ihl), tos,
                      hlen + len(l4) if total is None else total, ident, frag, ttl, proto, 0,
                      ip4(src), ip4(dst)) + options
    c = csum(hdr) if checksum is None else checksum
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + l4


def l4_checksummed(src, dst, proto, l4, at):
    c = csum(pseudo(ip4(src), ip4(dst), proto, l4))
    if proto == 17:
        c = c or 0xFFFF
    return l4[:at] + struct.pack("!H", c) + l4[at + 2:]


def udp_l4(src, dst, sport, dport, data):
    l4 = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    return l4_checksummed(src, dst, 17, l4, 6)


def tcp_l4(src, dst, sport, dport, flags, data=b"", seq=1000, ack=0):
    l4 = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 8192, 0, 0) + data
    return l4_checksummed(src, dst, 6, l4, 16)


def icmp_l4(icmp_type, code, data, rest=0):
    m = struct.pack("!BBHI", icmp_type, code, 0, rest) + data
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


ROUTER0, ROUTER1 = "00:00:c0:aa:00:01", "00:00:c0:bb:00:01"
HOST_A, HOST_B, GATEWAY = "02:00:00:00:00:02", "02:00:00:00:00:03", "02:00:00:00:00:fe"
HOST_C, HOST_D = "02:00:00:00:01:05", "02:00:00:00:01:06"
BROADCAST, NOBODY = "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"
A, B, C, D = "10.0.0.2", "10.0.0.3", "192.168.1.5", "192.168.1.6"


def router_frames():
    """Frames of router.pcap, in order, with the reason for each."""
    out = []
    ident = 0x100

    def ip(dst_mac, src_mac, *args, **kw):
        nonlocal ident
        ident += 1
        out.append(eth(dst_mac, src_mac, 0x0800, ip_packet(*args, ident=ident, **kw)))

    def arp_frame(dst_mac, src_mac, *args, pad=0):
        out.append(eth(dst_mac, src_mac, 0x0806, arp(*args) + b"\0" * pad))

    # ARP: a request for the router on each side, one for another host, and A's reply.
    arp_frame(BROADCAST, HOST_A, 1, HOST_A, A, NOBODY, "10.0.0.1")
    arp_frame(BROADCAST, HOST_A, 1, HOST_A, A, NOBODY, "10.0.0.77", pad=18)
    arp_frame(BROADCAST, HOST_C, 1, HOST_C, C, NOBODY, "192.168.1.1", pad=18)
    # A to C before the router knows C: it asks, holds the packet, and C's reply frees it.
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5000, 53, payload(20, 1)))
    arp_frame(ROUTER1, HOST_C, 2, HOST_C, C, ROUTER1, "192.168.1.1")
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5000, 53, payload(30, 2)))
    ip(ROUTER0, HOST_A, A, C, 6, tcp_l4(A, C, 4000, 80, 0x02))
    # TTL 1: a time-exceeded error to A, held until A's reply tells the router where A is.
    ip(ROUTER0, HOST_A, A, C, 6, tcp_l4(A, C, 4001, 80, 0x02), ttl=1)
    arp_frame(ROUTER0, HOST_A, 2, HOST_A, A, ROUTER0, "10.0.0.1", pad=18)
    # IP options: record route, timestamps (only, with addresses), and bad ones.
    rr = bytes([7, 11, 4]) + bytes(8)
    ip(ROUTER0, HOST_A, A, C, 1, icmp_l4(8, 0, payload(16, 3), 0x00010001), options=rr)
    ts = bytes([68, 12, 5, 0]) + bytes(8)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5001, 53, payload(8, 4)), options=ts)
    ts_addr = bytes([68, 20, 5, 1]) + bytes(16)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5002, 53, payload(8, 5)), options=ts_addr)
    rr_full = bytes([7, 7, 8, 10, 9, 9, 9, 1])
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5003, 53, payload(8, 6)), options=rr_full)
    nop_rr = bytes([1, 7, 7, 4]) + bytes(4)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5004, 53, payload(8, 7)), options=nop_rr)
    bad_len = bytes([7, 2, 4, 0])
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5005, 53, payload(8, 8)), options=bad_len)
    bad_ptr = bytes([7, 7, 2]) + bytes(5)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5006, 53, payload(8, 9)), options=bad_ptr)
    past_end = bytes([68, 40, 5, 0])
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5007, 53, payload(8, 10)), options=past_end)
    # Bigger than eth1's MTU (576): with DF an error to A, without it fragments; the copied
    # option (router alert) goes into every fragment, record route only into the first.
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5008, 53, payload(972, 11)), frag=0x4000)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5009, 53, payload(1372, 12)))
    ra_rr = bytes([0x94, 4, 0, 0, 7, 7, 4]) + bytes(4)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5010, 53, payload(1000, 13)), options=ra_rr)
    # A fragment passes as it is.
    ip(ROUTER0, HOST_A, A, C, 17, payload(64, 14), frag=0x2000 | 20)
    # Bad headers: checksum, IHL < 5, IP length beyond the frame, cut inside the header,
    # a broadcast source address.
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5011, 53, payload(20, 15)), checksum=0x1234)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5012, 53, payload(20, 16)), ihl=4)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5013, 53, payload(20, 17)), total=200)
    ip(ROUTER0, HOST_A, A, C, 17, udp_l4(A, C, 5014, 53, payload(20, 18)))
    out[-1] = out[-1][:14 + 16]
    ip(ROUTER0, HOST_A, "10.0.0.255", C, 17, udp_l4("10.0.0.255", C, 5015, 53, payload(20, 19)))
    # To the router: its addresses, a directed and the limited broadcast.
    ip(ROUTER0, HOST_A, A, "10.0.0.1", 1, icmp_l4(8, 0, payload(16, 20), 0x00020001))
    ip(ROUTER0, HOST_A, A, "192.168.1.1", 1, icmp_l4(8, 0, payload(16, 21), 0x00020002))
    ip(BROADCAST, HOST_A, A, "10.0.0.255", 17, udp_l4(A, "10.0.0.255", 5016, 137, payload(10, 22)))
    ip(BROADCAST, HOST_A, A, "255.255.255.255", 17,
       udp_l4(A, "255.255.255.255", 68, 67, payload(10, 23)))
    # Unicast IP in a link-level broadcast is not forwarded; nor is a frame for another host.
    ip(BROADCAST, HOST_A, A, C, 17, udp_l4(A, C, 5017, 53, payload(20, 24)))
    ip(HOST_B, HOST_A, A, C, 17, udp_l4(A, C, 5018, 53, payload(20, 25)))
    # Out the interface it came in on: a redirect, and the packet goes on (to B, unknown).
    ip(ROUTER0, HOST_A, A, B, 17, udp_l4(A, B, 5019, 53, payload(20, 26)))
    # From eth1: to A, by the default route (via 10.0.0.254), back out eth1, TTL 1, not IP.
    ip(ROUTER1, HOST_C, C, A, 17, udp_l4(C, A, 53, 5000, payload(40, 27)))
    ip(ROUTER1, HOST_C, C, "198.51.100.7", 6, tcp_l4(C, "198.51.100.7", 3000, 443, 0x12))
    ip(ROUTER1, HOST_C, C, D, 17, udp_l4(C, D, 53, 5001, payload(20, 28)))
    ip(ROUTER1, HOST_C, C, A, 17, udp_l4(C, A, 53, 5002, payload(20, 29)), ttl=1)
    out.append(eth(ROUTER1, HOST_C, 0x86DD, bytes(40)))
    # The gateway answers; the packet held for it leaves, and later ones go straight out.
    arp_frame(ROUTER0, GATEWAY, 2, GATEWAY, "10.0.0.254", ROUTER0, "10.0.0.1")
    ip(ROUTER1, HOST_C, C, "198.51.100.7", 6, tcp_l4(C, "198.51.100.7", 3000, 443, 0x10))
    ip(ROUTER1, HOST_C, C, A, 17, udp_l4(C, A, 53, 5003, payload(1200, 30)), frag=0x4000)
    return [(f, None) for f in out]


def vlan_frames():
    """Frames of vlan.pcap: (frame, captured length)."""
    out = []
    ident = 0x200
    dst, src = "02:00:00:00:02:01", "02:00:00:00:02:02"

    def tag(tpid, pcp, dei, vid):
        return struct.pack("!HH", tpid, (pcp << 13) | (dei << 12) | vid)

    def ip_body(size):
        nonlocal ident
        ident += 1
        return ip_packet("10.1.0.1", "10.1.0.2", 17,
                         udp_l4("10.1.0.1", "10.1.0.2", 7000, 7001, payload(size, ident)), ident)

    def frame(tags, ethertype, body):
        out.append(mac(dst) + mac(src) + b"".join(tags) + struct.pack("!H", ethertype) + body)

    frame([], 0x0800, ip_body(26))                                   # untagged
    frame([tag(0x8100, 0, 0, 10)], 0x0800, ip_body(26))              # VLAN 10
    frame([tag(0x8100, 5, 0, 20)], 0x0800, ip_body(40))              # VLAN 20, priority 5
    frame([tag(0x8100, 6, 0, 0)], 0x0800, ip_body(26))               # priority-tagged
    frame([tag(0x8100, 7, 1, 0xFFF)], 0x0800, ip_body(26))           # every TCI bit
    frame([tag(0x88A8, 3, 0, 100), tag(0x8100, 0, 0, 10)], 0x0800, ip_body(26))  # QinQ
    frame([tag(0x88A8, 1, 0, 200)], 0x0800, ip_body(26))             # S-tag only
    frame([tag(0x8100, 2, 0, 30)], 0x0806,
          arp(1, src, "10.1.0.1", NOBODY, "10.1.0.9"))              # tagged ARP
    frame([], 0x0806, arp(1, src, "10.1.0.1", NOBODY, "10.1.0.9"))  # untagged ARP
    frame([tag(0x8100, 4, 0, 10)], 0x86DD, bytes(40))                # tagged IPv6
    frame([tag(0x8100, 0, 0, 7)], 0x0800, ip_body(26))               # VLAN 7
    frame([tag(0x88A8, 0, 0, 300), tag(0x88A8, 0, 0, 301)], 0x0800, ip_body(26))
    # Cut short: the type alone, the type and half the tag, the tag and nothing after.
    out.append(mac(dst) + mac(src) + b"\x81\x00")
    out.append(mac(dst) + mac(src) + b"\x81\x00\xa0")
    out.append(mac(dst) + mac(src) + tag(0x8100, 5, 0, 10))
    frame([tag(0x8100, 1, 0, 10)], 0x0800, ip_body(26))              # after the cut ones
    return [(f, None) for f in out]


def firewall_frames():
    """Frames of firewall.pcap: (frame, captured length)."""
    out = []
    ident = 0x300
    dst, src = "02:00:00:00:03:01", "02:00:00:00:03:02"
    IN, IN2, OUT, LAN, SPOOF = "10.1.2.3", "10.1.9.9", "203.0.113.5", "192.168.7.7", "10.66.1.1"

    def ip(a, b, proto, l4, **kw):
        nonlocal ident
        ident += 1
        out.append(eth(dst, src, 0x0800, ip_packet(a, b, proto, l4, ident=ident, **kw)))

    def tcp(a, b, sport, dport, flags, **kw):
        ip(a, b, 6, tcp_l4(a, b, sport, dport, flags, payload(kw.pop("size", 0), ident)), **kw)

    def udp(a, b, sport, dport, **kw):
        ip(a, b, 17, udp_l4(a, b, sport, dport, payload(kw.pop("size", 12), ident)), **kw)

    tcp(OUT, IN, 40000, 80, 0x02)                       # SYN to www
    tcp(IN, OUT, 80, 40000, 0x12)                       # SYN-ACK back
    tcp(OUT, IN, 40000, 80, 0x10, size=20)              # data to www
    tcp(OUT, IN, 40001, 443, 0x18, size=10)             # PSH-ACK to https
    tcp(OUT, IN, 40002, 6010, 0x10)                     # inside the X11 range
    tcp(OUT, IN, 40003, 6064, 0x10)                     # just past it
    tcp(OUT, IN, 40004, 22, 0x10)                       # ssh
    tcp(IN, OUT, 22, 40004, 0x11)                       # FIN-ACK
    tcp(OUT, IN, 40005, 25, 0x04)                       # RST
    udp(IN, "8.8.8.8", 5353, 53)                        # DNS query
    udp("8.8.8.8", IN, 53, 5353, size=40)               # DNS answer
    udp(OUT, IN, 9999, 9999)                            # other UDP
    ip(OUT, IN, 1, icmp_l4(8, 0, payload(16, 1), 0x00010001))     # echo
    ip(IN, OUT, 1, icmp_l4(0, 0, payload(16, 2), 0x00010001))     # echo reply
    ip(OUT, IN, 1, icmp_l4(3, 3, payload(28, 3)))                 # unreachable
    ip(OUT, IN, 1, icmp_l4(11, 0, payload(28, 4)))                # time exceeded
    udp(OUT, LAN, 1000, 2000)                           # to the LAN net
    udp(SPOOF, IN, 1000, 2000)                          # from the spoofed net
    tcp(SPOOF, IN, 1000, 22, 0x02)                      # spoofed ssh
    udp(OUT, IN2, 1000, 2000, tos=0x03)                 # ECN CE
    udp(OUT, IN2, 1000, 2000, ttl=3)                    # low TTL
    ip(OUT, IN, 47, payload(24, 5))                     # GRE
    # Fragments: a first fragment (ports visible), a later one (offset 1480), a last one.
    ip(OUT, IN, 6, tcp_l4(OUT, IN, 40006, 80, 0x02, payload(32, 6)), frag=0x2000)
    ip(OUT, IN, 6, payload(40, 7), frag=185)
    ip(OUT, IN, 17, payload(40, 8), frag=0x2000 | 370)
    ip(OUT, IN, 1, icmp_l4(8, 0, payload(16, 9), 0x00010002), frag=0x2000)
    # IHL > 5: options in front of TCP and ICMP.
    tcp(OUT, IN, 40007, 80, 0x02, options=bytes([7, 7, 4]) + bytes(4))
    ip(OUT, IN, 1, icmp_l4(8, 0, payload(8, 10), 0x00010003), options=bytes([1, 1, 1, 0]))
    # TCP headers cut short: 8 bytes (ports only), 13 bytes (no flags), 14 bytes (flags).
    for n in (8, 13, 14):
        l4 = tcp_l4(OUT, IN, 40008, 80, 0x02)[:n]
        ip(OUT, IN, 6, l4)
    # A UDP header cut to 3 bytes.
    ip(OUT, IN, 17, udp_l4(OUT, IN, 1000, 53, b"")[:3])
    # IHL < 5, and a version that is not 4.
    tcp(OUT, IN, 40009, 80, 0x02, ihl=4)
    tcp(OUT, IN, 40010, 80, 0x02, ihl=0)
    udp(OUT, IN, 1000, 53)
    out[-1] = out[-1][:14] + bytes([0x65]) + out[-1][15:]
    # Empty, too short for an Ethernet header, and other ethertypes.
    out.append(b"")
    out.append(mac(dst) + mac(src)[:4])
    out.append(eth(dst, src, 0x0806, arp(1, src, IN, NOBODY, OUT)))
    out.append(eth(dst, src, 0x86DD, bytes(40)))
    out.append(eth(dst, src, 0x8100, struct.pack("!HH", 5, 0x0800) + bytes(20)))
    tcp(OUT, IN, 40011, 80, 0x02)                       # a last normal one
    return [(f, None) for f in out]


if __name__ == "__main__":
    write_pcap(os.path.join(HERE, "snapped.pcap"), frames())
    write_pcap(os.path.join(HERE, "nano.pcap"), frames()[:len(NANO_SUBSECONDS)], nano=True,
               subsec=lambda i: NANO_SUBSECONDS[i])
    write_pcap(os.path.join(HERE, "router.pcap"), router_frames())
    write_pcap(os.path.join(HERE, "vlan.pcap"), vlan_frames())
    write_pcap(os.path.join(HERE, "firewall.pcap"), firewall_frames())
