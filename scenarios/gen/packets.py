"""Frame builders and a pcap writer for the scenario traffic generator.

Standard library only. Every checksum is computed from scratch here (never updated
incrementally), so expected outputs built with these helpers check the network
functions' incremental updates independently.
"""

import struct

ETH_IP = 0x0800
ETH_ARP = 0x0806
ETH_IP6 = 0x86DD

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

BROADCAST = "ff:ff:ff:ff:ff:ff"


def mac(text):
    return bytes.fromhex(text.replace(":", ""))


def ip(text):
    return bytes(int(x) for x in text.split("."))


def checksum(data):
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ether(dst, src, ethertype, payload):
    return mac(dst) + mac(src) + struct.pack("!H", ethertype) + payload


def ipv4(src, dst, proto, payload, ttl=64, ident=0, df=False, mf=False,
         frag=0, tos=0, options=b"", total=None):
    """An IPv4 header (checksum computed) followed by payload."""
    assert len(options) % 4 == 0
    ihl = 5 + len(options) // 4
    length = total if total is not None else ihl * 4 + len(payload)
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag // 8)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, length, ident, flags, ttl,
                      proto, 0, ip(src), ip(dst)) + options
    csum = checksum(hdr)
    return hdr[:10] + struct.pack("!H", csum) + hdr[12:] + payload


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", window=64240):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, window, 0, 0)
    seg = hdr + payload
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, 6, len(seg))
    csum = checksum(pseudo + seg)
    return seg[:16] + struct.pack("!H", csum) + seg[18:]


def udp(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    dgram = struct.pack("!HHHH", sport, dport, length, 0) + payload
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, 17, length)
    csum = checksum(pseudo + dgram) or 0xFFFF
    return dgram[:6] + struct.pack("!H", csum) + dgram[8:]


def icmp(icmp_type, code, rest, body):
    """An ICMP message: type, code, the 4-byte rest-of-header word, body."""
    msg = struct.pack("!BBH", icmp_type, code, 0) + rest + body
    return msg[:2] + struct.pack("!H", checksum(msg)) + msg[4:]


def echo(request, ident, seq, payload):
    return icmp(8 if request else 0, 0, struct.pack("!HH", ident, seq), payload)


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, ETH_IP, 6, 4, op) + mac(sha) + ip(spa) + mac(tha) + ip(tpa)


def arp_request(src_mac, src_ip, target_ip):
    """A 42-byte broadcast ARP request, as a host (or ARPQuerier) sends it."""
    return ether(BROADCAST, src_mac, ETH_ARP,
                 arp(1, src_mac, src_ip, "00:00:00:00:00:00", target_ip))


def arp_reply(src_mac, src_ip, dst_mac, dst_ip):
    """A 42-byte ARP reply, as a host (or ARPResponder) sends it."""
    return ether(dst_mac, src_mac, ETH_ARP, arp(2, src_mac, src_ip, dst_mac, dst_ip))


def payload(n, seed=0):
    return bytes((seed + i * 7) & 0xFF for i in range(n))


# Application payloads, as the real protocols carry them, so that captures read right in
# tcpdump and Wireshark.

def _dns_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def dns_query(ident, name, qtype=1):
    """A DNS query (RFC 1035): recursion desired, one question of class IN."""
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + _dns_name(name) \
        + struct.pack("!HH", qtype, 1)


def dns_answer(ident, name, address, ttl=300):
    """The response to dns_query(ident, name): one A record pointing at address."""
    question = _dns_name(name) + struct.pack("!HH", 1, 1)
    # The answer's name is a pointer to the question's (offset 12).
    answer = struct.pack("!HHHIH", 0xC00C, 1, 1, ttl, 4) + ip(address)
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + answer


def ntp_request(transmit_seconds):
    """An NTPv4 client request (RFC 5905): 48 bytes, mode 3, the transmit timestamp set."""
    era = transmit_seconds + 2_208_988_800  # NTP counts from 1900
    return struct.pack("!BBbb", 0x23, 0, 6, 0x20) + bytes(36) + struct.pack("!II", era, 0)


def ping_data(seconds, usec, size=56):
    """What Linux ping sends after the ICMP header: a timestamp, then bytes 0x10, 0x11, ..."""
    stamp = struct.pack("<QQ", seconds, usec)
    return stamp + bytes((0x10 + i) & 0xFF for i in range(size - len(stamp)))


def ipv6_router_solicitation(src_mac):
    """An IPv6 router solicitation from the host's link-local address to all routers
    (ICMPv6 type 133 with its source link-layer address option)."""
    m = mac(src_mac)
    # fe80::/64 with the modified EUI-64 interface identifier of the MAC.
    src = bytes.fromhex("fe80000000000000") + bytes([m[0] ^ 0x02]) + m[1:3] + b"\xff\xfe" + m[3:]
    dst = bytes.fromhex("ff020000000000000000000000000002")
    body = struct.pack("!BBHI", 133, 0, 0, 0) + bytes([1, 1]) + m
    pseudo = src + dst + struct.pack("!IxxxB", len(body), 58)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    hdr = struct.pack("!IHBB", 0x60000000, len(body), 58, 255) + src + dst
    return ether("33:33:00:00:00:02", src_mac, ETH_IP6, hdr + body)


BASE_TIME = 1_700_000_000


def write_pcap(path, frames):
    """Classic little-endian microsecond pcap, Ethernet. frames: [(usec_offset, bytes)]."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for usec, data in frames:
            sec, us = divmod(usec, 1_000_000)
            f.write(struct.pack("<IIII", BASE_TIME + sec, us, len(data), len(data)))
            f.write(data)


class Trace:
    """Builds one scenario's input and expected outputs in step.

    Each `send(iface, frame, *expect)` adds an input frame received on `iface` (0 or 1)
    and the frames the network function must send in response, as (iface, frame) pairs,
    in the order it sends them.
    """

    def __init__(self):
        self.t = 0
        self.inputs = []
        self.outputs = {0: [], 1: []}
        self.notes = []

    def send(self, iface, frame, *expect, note=""):
        assert iface in (0, 1)
        # The pcap harness tells the interfaces apart by the sender's MAC address:
        # 02:00:00:01:xx:xx sends on eth0's link, 02:00:00:02:xx:xx on eth1's.
        assert frame[9] == iface + 1, "sender MAC does not match the interface"
        self.t += 1000
        self.inputs.append((self.t, frame))
        for out_iface, out in expect:
            self.outputs[out_iface].append((self.t, out))
        self.notes.append((len(self.inputs), iface, note, [i for i, _ in expect]))

    def write(self, folder):
        write_pcap(f"{folder}/in.pcap", self.inputs)
        write_pcap(f"{folder}/expected-eth0.pcap", self.outputs[0])
        write_pcap(f"{folder}/expected-eth1.pcap", self.outputs[1])
        with open(f"{folder}/traffic.txt", "w") as f:
            f.write("# frame  in   -> out     what\n")
            for n, iface, note, outs in self.notes:
                dest = ",".join(f"eth{i}" for i in outs) or "(dropped)"
                f.write(f"{n:5}  eth{iface} -> {dest:9} {note}\n")
