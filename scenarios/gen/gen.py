#!/usr/bin/env python3
"""Writes every scenario's input traffic and expected output.

    python3 scenarios/gen/gen.py            # rewrites scenarios/*/in.pcap, expected-*.pcap

Deterministic: the same files every run. Expected frames are built from scratch by the
helpers in packets.py, from what each network function must do to each input frame (see
the comments), never by running sluice. Record timestamps in the expected files are the
triggering input's; the tests compare frames, since packets a network function makes
itself (ARP, ICMP) are stamped with the time they were made.
"""

import os
import struct

from packets import (BROADCAST, ETH_ARP, ETH_IP, ETH_IP6, TCP_ACK, TCP_FIN, TCP_PSH,
                     TCP_RST, TCP_SYN, Trace, arp_reply, arp_request, dns_answer, dns_query,
                     echo, ether, icmp, ipv4, ipv6_router_solicitation, ntp_request, payload,
                     ping_data, tcp, udp)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Unreachable ICMP: type 3; time exceeded: 11; redirect: 5.
UNREACH, TIMEEXCEEDED, REDIRECT = 3, 11, 5


def quote(datagram, n=8):
    """What an ICMP error quotes: the IP header and the first n payload bytes."""
    ihl = (datagram[0] & 0x0F) * 4
    return datagram[: ihl + n]


# ---------------------------------------------------------------------------------------
# firewall: a stateful filtering bridge between a LAN (eth0) and the upstream router (eth1)
# ---------------------------------------------------------------------------------------

def firewall():
    t = Trace()
    client, client_mac = "192.168.1.10", "02:00:00:01:00:0a"
    server, server_mac = "192.168.1.20", "02:00:00:01:00:14"
    gw, gw_mac = "192.168.1.1", "02:00:00:02:00:01"
    web, dns, remote = "198.51.100.80", "198.51.100.53", "203.0.113.7"

    def lan(src_mac, ip_packet):
        return ether(gw_mac, src_mac, ETH_IP, ip_packet)

    def wan(dst_mac, ip_packet):
        return ether(dst_mac, gw_mac, ETH_IP, ip_packet)

    def passes(iface, frame, note):
        # A bridge forwards an allowed frame unchanged to the other side.
        t.send(iface, frame, (1 - iface, frame), note=note)

    def dropped(iface, frame, note):
        t.send(iface, frame, note=note)

    passes(0, arp_request(client_mac, client, gw), "ARP who-has 192.168.1.1 (bridged)")
    passes(1, arp_reply(gw_mac, gw, client_mac, client), "ARP reply (bridged)")

    # LAN-initiated TCP to the web: allowed out, replies let back in.
    passes(0, lan(client_mac, ipv4(client, web, 6, tcp(client, web, 40001, 80, 1000, 0, TCP_SYN), ident=0x101, df=True)),
           "TCP SYN 192.168.1.10:40001 -> 198.51.100.80:80")
    passes(1, wan(client_mac, ipv4(web, client, 6, tcp(web, client, 80, 40001, 5000, 1001, TCP_SYN | TCP_ACK), ident=0x9001, ttl=57, df=True)),
           "TCP SYN-ACK reply")
    passes(0, lan(client_mac, ipv4(client, web, 6, tcp(client, web, 40001, 80, 1001, 5001, TCP_ACK | TCP_PSH, b"GET / HTTP/1.0\r\n\r\n"), ident=0x102, df=True)),
           "TCP data")
    passes(1, wan(client_mac, ipv4(web, client, 6, tcp(web, client, 80, 40001, 5001, 1019, TCP_ACK | TCP_PSH, b"HTTP/1.0 200 OK\r\n\r\nhello"), ident=0x9002, ttl=57, df=True)),
           "TCP data reply")
    passes(0, lan(client_mac, ipv4(client, web, 6, tcp(client, web, 40002, 443, 7000, 0, TCP_SYN), ident=0x103, df=True)),
           "TCP SYN to 443 (allowed)")
    passes(0, lan(client_mac, ipv4(client, web, 6, tcp(client, web, 40003, 22, 8000, 0, TCP_SYN), ident=0x104, df=True)),
           "TCP SYN to 22 (allowed)")

    # DNS over UDP: www.example.com resolves to the web server above.
    query = dns_query(0x1A2B, "www.example.com")
    q = ipv4(client, dns, 17, udp(client, dns, 50000, 53, query), ident=0x105)
    passes(0, lan(client_mac, q), "DNS query 192.168.1.10:50000 -> 198.51.100.53:53, A www.example.com")
    passes(1, wan(client_mac, ipv4(dns, client, 17, udp(dns, client, 53, 50000, dns_answer(0x1A2B, "www.example.com", web)), ident=0x9003, ttl=57)),
           "DNS reply: www.example.com A 198.51.100.80")

    # Ping out and back.
    ping = ping_data(1_700_000_000, 11_000)
    passes(0, lan(client_mac, ipv4(client, web, 1, echo(True, 0x1234, 1, ping), ident=0x106)),
           "ICMP echo request 192.168.1.10 -> 198.51.100.80")
    passes(1, wan(client_mac, ipv4(web, client, 1, echo(False, 0x1234, 1, ping), ident=0x9004, ttl=57)),
           "ICMP echo reply")

    # Not allowed out: SMTP, and UDP to a port other than 53 (NTP). No rule allows them and
    # they belong to no flow.
    dropped(0, lan(client_mac, ipv4(client, web, 6, tcp(client, web, 40004, 25, 9000, 0, TCP_SYN), ident=0x107)),
            "TCP SYN to 25 (SMTP): lan_no_flow, lan_denied")
    dropped(0, lan(client_mac, ipv4(client, web, 17, udp(client, web, 50001, 123, ntp_request(1_700_000_014)), ident=0x108)),
            "NTP request to 123: lan_no_flow, lan_denied")

    # Unsolicited from the WAN.
    dropped(1, wan(client_mac, ipv4(remote, client, 6, tcp(remote, client, 51000, 22, 1, 0, TCP_SYN), ident=0x9005)),
            "TCP SYN 203.0.113.7 -> 192.168.1.10:22: wan_no_flow, wan_denied")
    dropped(1, wan(client_mac, ipv4(dns, client, 17, udp(dns, client, 53, 50001, dns_answer(0x5C5C, "www.example.com", remote)), ident=0x9006)),
            "DNS reply to a port that asked nothing: wan_no_flow, wan_denied")
    dropped(1, wan(client_mac, ipv4(remote, client, 1, echo(True, 0x4321, 1, ping_data(1_700_000_017, 0)), ident=0x9007)),
            "ICMP echo request from the WAN: wan_no_rule, wan_denied")
    dropped(1, wan(client_mac, ipv4(web, client, 1, echo(False, 0x9999, 1, ping), ident=0x9008)),
            "ICMP echo reply with no request: wan_no_flow, wan_denied")
    # A reply to the TCP flow but with the SYN-ACK to the wrong port.
    dropped(1, wan(client_mac, ipv4(web, client, 6, tcp(web, client, 80, 40009, 1, 1, TCP_SYN | TCP_ACK), ident=0x9009)),
            "TCP SYN-ACK to a port with no flow: wan_no_flow, wan_denied")

    # The published service: TCP 80 on 192.168.1.20, reachable from anywhere.
    passes(1, wan(server_mac, ipv4(remote, server, 6, tcp(remote, server, 51001, 80, 3000, 0, TCP_SYN), ident=0x900A, ttl=50)),
           "TCP SYN 203.0.113.7:51001 -> 192.168.1.20:80 (published)")
    passes(0, lan(server_mac, ipv4(server, remote, 6, tcp(server, remote, 80, 51001, 6000, 3001, TCP_SYN | TCP_ACK), ident=0x201, df=True)),
           "TCP SYN-ACK from the published server")
    dropped(0, lan(server_mac, ipv4(server, remote, 6, tcp(server, remote, 80, 51002, 6000, 3001, TCP_SYN | TCP_ACK), ident=0x202)),
            "TCP from the server's port 80 with no flow: lan_no_flow, lan_denied")
    dropped(1, wan(server_mac, ipv4(remote, server, 6, tcp(remote, server, 51003, 8080, 1, 0, TCP_SYN), ident=0x900B)),
            "TCP SYN to 192.168.1.20:8080 (not published): wan_no_flow, wan_denied")

    # ICMP errors: let in when they quote a flow the LAN started, dropped otherwise.
    passes(1, wan(client_mac, ipv4(dns, client, 1, icmp(UNREACH, 3, b"\0\0\0\0", quote(q)), ident=0x900C)),
           "ICMP port unreachable quoting the DNS query")
    stray = ipv4(client, dns, 17, udp(client, dns, 50002, 53, query), ident=0x109)
    dropped(1, wan(client_mac, ipv4(dns, client, 1, icmp(UNREACH, 3, b"\0\0\0\0", quote(stray)), ident=0x900D)),
            "ICMP port unreachable quoting an unknown flow: wan_bad_error, wan_denied")

    # Not IPv4, and broken IPv4.
    dropped(0, ipv6_router_solicitation(client_mac),
            "IPv6 router solicitation: lan_not_ip, lan_denied")
    bad = bytearray(lan(client_mac, ipv4(client, web, 6, tcp(client, web, 40001, 80, 1019, 5021, TCP_ACK), ident=0x10A)))
    bad[24] ^= 0xFF  # corrupt the IP header checksum
    dropped(0, bytes(bad), "bad IP checksum: lan_bad_ip, lan_denied")

    # The TCP connection closes; both FINs are part of the flow.
    passes(0, lan(client_mac, ipv4(client, web, 6, tcp(client, web, 40001, 80, 1019, 5021, TCP_ACK | TCP_FIN), ident=0x10B, df=True)),
           "TCP FIN")
    passes(1, wan(client_mac, ipv4(web, client, 6, tcp(web, client, 80, 40001, 5021, 1020, TCP_ACK | TCP_FIN), ident=0x900E, ttl=57, df=True)),
           "TCP FIN reply")
    return t


# ---------------------------------------------------------------------------------------
# nat: NAPT gateway, LAN 10.0.0.0/24 on eth0, public 203.0.113.1 on eth1
# ---------------------------------------------------------------------------------------

def nat():
    t = Trace()
    in_ip, in_mac = "10.0.0.1", "02:00:00:00:01:01"
    ex_ip, ex_mac = "203.0.113.1", "02:00:00:00:02:01"
    hop_ip, hop_mac = "203.0.113.254", "02:00:00:02:00:fe"
    client, client_mac = "10.0.0.10", "02:00:00:01:00:0a"
    server, server_mac = "10.0.0.20", "02:00:00:01:00:14"
    web, dns, remote = "198.51.100.80", "198.51.100.53", "192.0.2.7"

    def from_lan(src_mac, pkt):
        return ether(in_mac, src_mac, ETH_IP, pkt)

    def to_lan(dst_mac, pkt):
        return ether(dst_mac, in_mac, ETH_IP, pkt)

    def from_wan(pkt):
        return ether(ex_mac, hop_mac, ETH_IP, pkt)

    def to_wan(pkt):
        return ether(hop_mac, ex_mac, ETH_IP, pkt)

    # ARP for the gateway's inside address.
    t.send(0, arp_request(client_mac, client, in_ip),
           (0, arp_reply(in_mac, in_ip, client_mac, client)), note="ARP who-has 10.0.0.1: answered")
    t.send(0, arp_request(client_mac, client, "10.0.0.99"), note="ARP who-has another address: ignored")

    # TCP out: source becomes 203.0.113.1:50000 (first port of the sequential range). The
    # next hop's address is not known yet: ARPQuerier asks, holds the packet, and sends it
    # when the answer comes.
    syn = lambda sip, sport, ident: ipv4(sip, web, 6, tcp(sip, web, sport, 80, 1000, 0, TCP_SYN), ident=ident, df=True)
    t.send(0, from_lan(client_mac, syn(client, 40001, 0x101)),
           (1, arp_request(ex_mac, ex_ip, hop_ip)), note="TCP SYN 10.0.0.10:40001 -> 198.51.100.80:80: ARP query for the next hop")
    t.send(1, arp_reply(hop_mac, hop_ip, ex_mac, ex_ip),
           (1, to_wan(syn(ex_ip, 50000, 0x101))), note="next hop's ARP reply: held SYN leaves as 203.0.113.1:50000")
    synack = ipv4(web, ex_ip, 6, tcp(web, ex_ip, 80, 50000, 5000, 1001, TCP_SYN | TCP_ACK), ident=0x9001, ttl=57, df=True)
    synack_in = ipv4(web, client, 6, tcp(web, client, 80, 40001, 5000, 1001, TCP_SYN | TCP_ACK), ident=0x9001, ttl=57, df=True)
    t.send(1, from_wan(synack), (0, arp_request(in_mac, in_ip, client)),
           note="SYN-ACK to 203.0.113.1:50000: ARP query for 10.0.0.10")
    t.send(0, arp_reply(client_mac, client, in_mac, in_ip), (0, to_lan(client_mac, synack_in)),
           note="client's ARP reply: SYN-ACK delivered to 10.0.0.10:40001")
    data = b"GET / HTTP/1.0\r\n\r\n"
    t.send(0, from_lan(client_mac, ipv4(client, web, 6, tcp(client, web, 40001, 80, 1001, 5001, TCP_ACK | TCP_PSH, data), ident=0x102, df=True)),
           (1, to_wan(ipv4(ex_ip, web, 6, tcp(ex_ip, web, 50000, 80, 1001, 5001, TCP_ACK | TCP_PSH, data), ident=0x102, df=True))),
           note="TCP data, translated")
    # A second connection takes the next port.
    t.send(0, from_lan(client_mac, syn(client, 40002, 0x103)), (1, to_wan(syn(ex_ip, 50001, 0x103))),
           note="second TCP connection: 203.0.113.1:50001")

    # UDP (DNS) out and back: the rewriter's pattern hands out 50002.
    qdata, rdata = payload(29, 1), payload(45, 2)
    q_in = ipv4(client, dns, 17, udp(client, dns, 50000, 53, qdata), ident=0x104)
    q_out = ipv4(ex_ip, dns, 17, udp(ex_ip, dns, 50002, 53, qdata), ident=0x104)
    t.send(0, from_lan(client_mac, q_in), (1, to_wan(q_out)), note="UDP 10.0.0.10:50000 -> 198.51.100.53:53 as 203.0.113.1:50002")
    t.send(1, from_wan(ipv4(dns, ex_ip, 17, udp(dns, ex_ip, 53, 50002, rdata), ident=0x9002, ttl=57)),
           (0, to_lan(client_mac, ipv4(dns, client, 17, udp(dns, client, 53, 50000, rdata), ident=0x9002, ttl=57))),
           note="UDP reply, translated back")

    # Ping out and back: the echo identifier is rewritten like a port.
    pdata = payload(56, 3)
    t.send(0, from_lan(client_mac, ipv4(client, web, 1, echo(True, 0x0777, 1, pdata), ident=0x105)),
           (1, to_wan(ipv4(ex_ip, web, 1, echo(True, 50000, 1, pdata), ident=0x105))),
           note="ICMP echo 10.0.0.10 -> 198.51.100.80 id 0x777 as 203.0.113.1 id 50000")
    t.send(1, from_wan(ipv4(web, ex_ip, 1, echo(False, 50000, 1, pdata), ident=0x9003, ttl=57)),
           (0, to_lan(client_mac, ipv4(web, client, 1, echo(False, 0x0777, 1, pdata), ident=0x9003, ttl=57))),
           note="ICMP echo reply, translated back")

    # An ICMP error about the DNS flow, translated back (the quote too).
    t.send(1, from_wan(ipv4(dns, ex_ip, 1, icmp(UNREACH, 3, b"\0\0\0\0", quote(q_out)), ident=0x9004, ttl=57)),
           (0, to_lan(client_mac, ipv4(dns, client, 1, icmp(UNREACH, 3, b"\0\0\0\0", quote(q_in)), ident=0x9004, ttl=57))),
           note="ICMP port unreachable about 203.0.113.1:50002, translated to 10.0.0.10:50000")

    # Port forward: 203.0.113.1:8080 -> 10.0.0.20:80; the client's address is kept.
    fwd = lambda dip, dport: ipv4(remote, dip, 6, tcp(remote, dip, 51001, dport, 3000, 0, TCP_SYN), ident=0x9005, ttl=50)
    t.send(1, from_wan(fwd(ex_ip, 8080)), (0, arp_request(in_mac, in_ip, server)),
           note="TCP SYN 192.0.2.7:51001 -> 203.0.113.1:8080: forwarded to 10.0.0.20:80, ARP query")
    t.send(0, arp_reply(server_mac, server, in_mac, in_ip), (0, to_lan(server_mac, fwd(server, 80))),
           note="server's ARP reply: SYN delivered")
    sa = lambda sip, sport: ipv4(sip, remote, 6, tcp(sip, remote, sport, 51001, 6000, 3001, TCP_SYN | TCP_ACK), ident=0x201, df=True)
    t.send(0, from_lan(server_mac, sa(server, 80)), (1, to_wan(sa(ex_ip, 8080))),
           note="server's SYN-ACK leaves as 203.0.113.1:8080")

    # The gateway answers pings to its own addresses.
    t.send(0, from_lan(client_mac, ipv4(client, in_ip, 1, echo(True, 0x55, 1, payload(32, 4)), ident=0x106)),
           (0, to_lan(client_mac, ipv4(in_ip, client, 1, echo(False, 0x55, 1, payload(32, 4)), ident=0x106, ttl=255))),
           note="ping 10.0.0.1: answered")
    t.send(1, from_wan(ipv4(remote, ex_ip, 1, echo(True, 0x66, 1, payload(32, 5)), ident=0x9006, ttl=50)),
           (1, to_wan(ipv4(ex_ip, remote, 1, echo(False, 0x66, 1, payload(32, 5)), ident=0x9006, ttl=255))),
           note="ping 203.0.113.1: answered")

    # Dropped and counted.
    t.send(1, from_wan(ipv4(remote, ex_ip, 6, tcp(remote, ex_ip, 51002, 22, 1, 0, TCP_SYN), ident=0x9007)),
           note="unsolicited TCP to 203.0.113.1:22: dropped (no mapping)")
    t.send(1, from_wan(ipv4(web, ex_ip, 1, echo(False, 50999, 1, pdata), ident=0x9008)),
           note="echo reply with no mapping: dropped")
    t.send(1, from_wan(ipv4(remote, "203.0.113.9", 17, udp(remote, "203.0.113.9", 1, 2, b"x"), ident=0x9009)),
           note="UDP to another address: dropped")
    t.send(0, ether(BROADCAST, client_mac, ETH_IP6, bytes(40)), note="IPv6: dropped")
    return t


# ---------------------------------------------------------------------------------------
# router: the classic Click IP router between 10.1.0.0/24 (eth0) and 10.2.0.0/24 (eth1)
# ---------------------------------------------------------------------------------------

def router():
    t = Trace()
    r0_ip, r0_mac = "10.1.0.1", "02:00:00:00:01:01"
    r1_ip, r1_mac = "10.2.0.1", "02:00:00:00:02:01"
    a, a_mac = "10.1.0.10", "02:00:00:01:00:0a"
    b, b_mac = "10.2.0.20", "02:00:00:02:00:14"
    up, up_mac = "10.2.0.254", "02:00:00:02:00:fe"
    far = "192.0.2.33"

    def on0(src_mac, pkt):
        return ether(r0_mac, src_mac, ETH_IP, pkt)

    def on1(src_mac, pkt):
        return ether(r1_mac, src_mac, ETH_IP, pkt)

    def out0(dst_mac, pkt):
        return ether(dst_mac, r0_mac, ETH_IP, pkt)

    def out1(dst_mac, pkt):
        return ether(dst_mac, r1_mac, ETH_IP, pkt)

    t.send(0, arp_request(a_mac, a, r0_ip), (0, arp_reply(r0_mac, r0_ip, a_mac, a)),
           note="ARP who-has 10.1.0.1: answered")

    # Forwarding: TTL 64 -> 63, via ARP on each side.
    pdata = payload(56, 1)
    ping = lambda ttl: ipv4(a, b, 1, echo(True, 0x42, 1, pdata), ident=0x101, ttl=ttl)
    t.send(0, on0(a_mac, ping(64)), (1, arp_request(r1_mac, r1_ip, b)),
           note="ping 10.1.0.10 -> 10.2.0.20: ARP query on eth1")
    t.send(1, arp_reply(b_mac, b, r1_mac, r1_ip), (1, out1(b_mac, ping(63))),
           note="ARP reply: ping forwarded with TTL 63")
    pong = lambda ttl: ipv4(b, a, 1, echo(False, 0x42, 1, pdata), ident=0x201, ttl=ttl)
    t.send(1, on1(b_mac, pong(64)), (0, arp_request(r0_mac, r0_ip, a)),
           note="echo reply 10.2.0.20 -> 10.1.0.10: ARP query on eth0")
    t.send(0, arp_reply(a_mac, a, r0_mac, r0_ip), (0, out0(a_mac, pong(63))),
           note="ARP reply: echo reply forwarded with TTL 63")

    # The router answers pings to itself; the reply goes through the eth0 output path
    # (ICMPPingResponder sets TTL 255, DecIPTTL makes it 254).
    t.send(0, on0(a_mac, ipv4(a, r0_ip, 1, echo(True, 0x43, 1, payload(16, 2)), ident=0x102)),
           (0, out0(a_mac, ipv4(r0_ip, a, 1, echo(False, 0x43, 1, payload(16, 2)), ident=0x102, ttl=254))),
           note="ping 10.1.0.1: answered, TTL 254")
    t.send(0, on0(a_mac, ipv4(a, r1_ip, 1, echo(True, 0x44, 1, payload(16, 3)), ident=0x103)),
           (0, out0(a_mac, ipv4(r1_ip, a, 1, echo(False, 0x44, 1, payload(16, 3)), ident=0x103, ttl=254))),
           note="ping 10.2.0.1 (the far interface): answered")

    # TTL expiry: DecIPTTL's second output -> ICMPError(10.2.0.1, timeexceeded) -> routed
    # back to 10.1.0.10 through eth0's path, where FixIPSrc puts in 10.1.0.1 and DecIPTTL
    # takes the error's TTL from 200 to 199. The quote is the whole expired datagram
    # (RFC 1812: as much as fits in 576 bytes).
    expired = ipv4(a, b, 17, udp(a, b, 33434, 33435, payload(12, 4)), ident=0x104, ttl=1)
    t.send(0, on0(a_mac, expired),
           (0, out0(a_mac, ipv4(r0_ip, a, 1, icmp(TIMEEXCEEDED, 0, b"\0\0\0\0", expired), ident=1, ttl=199))),
           note="UDP with TTL 1 to 10.2.0.20: ICMP time exceeded from 10.1.0.1")

    # Record Route option: IPGWOptions on eth1's path records 10.2.0.1.
    rr_before = bytes([7, 11, 4]) + bytes(8) + bytes([0])  # RR, 2 slots, pointer 4, EOL pad
    rr_after = bytes([7, 11, 8]) + bytes([10, 2, 0, 1]) + bytes(4) + bytes([0])
    rr = lambda ttl, opts: ipv4(a, b, 17, udp(a, b, 5000, 5001, payload(10, 5)), ident=0x105, ttl=ttl, options=opts)
    t.send(0, on0(a_mac, rr(64, rr_before)), (1, out1(b_mac, rr(63, rr_after))),
           note="UDP with Record Route: 10.2.0.1 recorded, forwarded")

    # Fragmentation: eth1's MTU is 1400. A 1500-byte datagram leaves as 1396 + 124.
    big = payload(1480, 6)
    whole = ipv4(a, b, 17, udp(a, b, 6000, 6001, big[8:]), ident=0x106, ttl=64)
    body = whole[20:]
    frag1 = ipv4(a, b, 17, body[:1376], ident=0x106, ttl=63, mf=True)
    frag2 = ipv4(a, b, 17, body[1376:], ident=0x106, ttl=63, frag=1376)
    t.send(0, on0(a_mac, whole), (1, out1(b_mac, frag1)), (1, out1(b_mac, frag2)),
           note="1500-byte UDP to 10.2.0.20: two fragments (MTU 1400)")
    # With DF: ICMP fragmentation needed from 10.1.0.1. As in Click's ICMPError (no PMTU
    # given), the next-hop MTU field is 0; the quote fills the error to 576 bytes.
    whole_df = ipv4(a, b, 17, udp(a, b, 6000, 6001, big[8:]), ident=0x107, ttl=64, df=True)
    # DecIPTTL comes before IPFragmenter, so the quoted header already shows TTL 63.
    quoted_df = ipv4(a, b, 17, udp(a, b, 6000, 6001, big[8:]), ident=0x107, ttl=63, df=True)
    t.send(0, on0(a_mac, whole_df),
           (0, out0(a_mac, ipv4(r0_ip, a, 1, icmp(UNREACH, 4, b"\0\0\0\0",
                                                  quoted_df[:576 - 28]), ident=2, ttl=199))),
           note="same with DF: ICMP fragmentation needed")

    # Longest prefix match: 192.0.2.33 takes the default route via 10.2.0.254.
    far_pkt = lambda ttl: ipv4(a, far, 6, tcp(a, far, 40000, 443, 1, 0, TCP_SYN), ident=0x108, ttl=ttl, df=True)
    t.send(0, on0(a_mac, far_pkt(64)), (1, arp_request(r1_mac, r1_ip, up)),
           note="TCP SYN to 192.0.2.33: default route, ARP query for 10.2.0.254")
    t.send(1, arp_reply(up_mac, up, r1_mac, r1_ip), (1, out1(up_mac, far_pkt(63))),
           note="upstream's ARP reply: SYN forwarded")

    # Redirect: 10.1.0.10 sends to 10.1.0.30 through the router; it leaves by the interface
    # it came in on, so PaintTee copies it to ICMPError(redirect host, gateway 10.1.0.30)
    # (the router's third error: all ICMPErrors count one identifier sequence, as in Click,
    # so identifier 3), and forwards it (ARP query for 10.1.0.30, which never
    # answers). Click's PaintTee emits the copy before the original; the tests accept the
    # frames one input causes in any order.
    via = ipv4(a, "10.1.0.30", 17, udp(a, "10.1.0.30", 7000, 7001, payload(8, 7)), ident=0x109)
    t.send(0, on0(a_mac, via),
           (0, out0(a_mac, ipv4(r0_ip, a, 1, icmp(REDIRECT, 1, bytes([10, 1, 0, 30]), via), ident=3, ttl=199))),
           (0, arp_request(r0_mac, r0_ip, "10.1.0.30")),
           note="UDP to 10.1.0.30 via the router: ICMP redirect, ARP query for 10.1.0.30")

    # Local delivery of something that is not a ping: dropped.
    t.send(0, on0(a_mac, ipv4(a, r0_ip, 17, udp(a, r0_ip, 1, 9, b"x"), ident=0x10A)),
           note="UDP to 10.1.0.1: no local service, dropped")
    # Broken and foreign traffic.
    bad = bytearray(on0(a_mac, ping(64)))
    bad[24] ^= 0xFF
    t.send(0, bytes(bad), note="bad IP checksum: CheckIPHeader drops it")
    t.send(1, ether(BROADCAST, b_mac, ETH_IP6, bytes(40)), note="IPv6: dropped")
    return t


# ---------------------------------------------------------------------------------------
# load-balancer: VIP 192.0.2.100 (eth0) over backends 10.0.0.11 and 10.0.0.12 (eth1)
# ---------------------------------------------------------------------------------------

def load_balancer():
    t = Trace()
    f_ip, f_mac = "192.0.2.1", "02:00:00:00:01:01"
    vip = "192.0.2.100"
    b_ip, b_mac = "10.0.0.1", "02:00:00:00:02:01"
    c1, c1_mac = "192.0.2.10", "02:00:00:01:00:0a"
    c2, c2_mac = "192.0.2.11", "02:00:00:01:00:0b"
    s1, s1_mac = "10.0.0.11", "02:00:00:02:00:0b"
    s2, s2_mac = "10.0.0.12", "02:00:00:02:00:0c"

    def front_in(src_mac, pkt):
        return ether(f_mac, src_mac, ETH_IP, pkt)

    def front_out(dst_mac, pkt):
        return ether(dst_mac, f_mac, ETH_IP, pkt)

    def back_in(src_mac, pkt):
        return ether(b_mac, src_mac, ETH_IP, pkt)

    def back_out(dst_mac, pkt):
        return ether(dst_mac, b_mac, ETH_IP, pkt)

    def req(c, sport, dst, seq, flags, data=b"", ident=0):
        return ipv4(c, dst, 6, tcp(c, dst, sport, 80, seq, 0 if flags == TCP_SYN else 9001, flags, data), ident=ident, df=True)

    def rsp(src, c, cport, flags, data=b"", ident=0):
        return ipv4(src, c, 6, tcp(src, c, 80, cport, 9000, 101, flags, data), ident=ident, df=True)

    t.send(0, arp_request(c1_mac, c1, vip), (0, arp_reply(f_mac, vip, c1_mac, c1)),
           note="ARP who-has 192.0.2.100 (the VIP): answered")
    t.send(1, arp_request(s1_mac, s1, b_ip), (1, arp_reply(b_mac, b_ip, s1_mac, s1)),
           note="backend's ARP who-has 10.0.0.1: answered")

    # New connections go to the backends in turn: 11, 12, 11, 12.
    t.send(0, front_in(c1_mac, req(c1, 40000, vip, 100, TCP_SYN, ident=1)), (1, arp_request(b_mac, b_ip, s1)),
           note="SYN 192.0.2.10:40000 -> VIP:80: backend 10.0.0.11, ARP query")
    t.send(1, arp_reply(s1_mac, s1, b_mac, b_ip), (1, back_out(s1_mac, req(c1, 40000, s1, 100, TCP_SYN, ident=1))),
           note="ARP reply: SYN delivered to 10.0.0.11")
    t.send(0, front_in(c2_mac, req(c2, 40000, vip, 100, TCP_SYN, ident=2)), (1, arp_request(b_mac, b_ip, s2)),
           note="SYN 192.0.2.11:40000 -> VIP:80: backend 10.0.0.12, ARP query")
    t.send(1, arp_reply(s2_mac, s2, b_mac, b_ip), (1, back_out(s2_mac, req(c2, 40000, s2, 100, TCP_SYN, ident=2))),
           note="ARP reply: SYN delivered to 10.0.0.12")
    t.send(0, front_in(c1_mac, req(c1, 40001, vip, 100, TCP_SYN, ident=3)), (1, back_out(s1_mac, req(c1, 40001, s1, 100, TCP_SYN, ident=3))),
           note="SYN 192.0.2.10:40001: backend 10.0.0.11")
    t.send(0, front_in(c1_mac, req(c1, 40002, vip, 100, TCP_SYN, ident=4)), (1, back_out(s2_mac, req(c1, 40002, s2, 100, TCP_SYN, ident=4))),
           note="SYN 192.0.2.10:40002: backend 10.0.0.12")

    # Replies leave from the VIP.
    t.send(1, back_in(s1_mac, rsp(s1, c1, 40000, TCP_SYN | TCP_ACK, ident=11)), (0, arp_request(f_mac, f_ip, c1)),
           note="SYN-ACK from 10.0.0.11: source becomes the VIP; ARP query for 192.0.2.10")
    t.send(0, arp_reply(c1_mac, c1, f_mac, f_ip), (0, front_out(c1_mac, rsp(vip, c1, 40000, TCP_SYN | TCP_ACK, ident=11))),
           note="client's ARP reply: SYN-ACK delivered from 192.0.2.100")
    t.send(1, back_in(s2_mac, rsp(s2, c1, 40002, TCP_SYN | TCP_ACK, ident=12)), (0, front_out(c1_mac, rsp(vip, c1, 40002, TCP_SYN | TCP_ACK, ident=12))),
           note="SYN-ACK from 10.0.0.12, from the VIP")

    # Each connection stays on its backend.
    data = b"GET / HTTP/1.0\r\n\r\n"
    t.send(0, front_in(c1_mac, req(c1, 40000, vip, 101, TCP_ACK | TCP_PSH, data, ident=5)),
           (1, back_out(s1_mac, req(c1, 40000, s1, 101, TCP_ACK | TCP_PSH, data, ident=5))),
           note="data on 192.0.2.10:40000: still 10.0.0.11")
    t.send(0, front_in(c1_mac, req(c1, 40002, vip, 101, TCP_ACK | TCP_PSH, data, ident=6)),
           (1, back_out(s2_mac, req(c1, 40002, s2, 101, TCP_ACK | TCP_PSH, data, ident=6))),
           note="data on 192.0.2.10:40002: still 10.0.0.12")
    t.send(0, front_in(c2_mac, req(c2, 40000, vip, 101, TCP_ACK | TCP_PSH, data, ident=7)),
           (1, back_out(s2_mac, req(c2, 40000, s2, 101, TCP_ACK | TCP_PSH, data, ident=7))),
           note="data on 192.0.2.11:40000: still 10.0.0.12")
    t.send(0, front_in(c1_mac, req(c1, 40001, vip, 101, TCP_ACK | TCP_RST, ident=8)),
           (1, back_out(s1_mac, req(c1, 40001, s1, 101, TCP_ACK | TCP_RST, ident=8))),
           note="RST on 192.0.2.10:40001: still 10.0.0.11")

    # Dropped and counted.
    t.send(0, front_in(c1_mac, ipv4(c1, vip, 6, tcp(c1, vip, 40003, 22, 1, 0, TCP_SYN), ident=9)),
           note="SYN to VIP:22: not balanced, dropped")
    t.send(1, back_in(s1_mac, rsp(s1, c1, 45000, TCP_SYN | TCP_ACK, ident=13)),
           note="backend packet outside any connection: dropped")
    t.send(0, front_in(c2_mac, ipv4(c2, vip, 1, echo(True, 9, 1, payload(16, 1)), ident=10)),
           (0, arp_request(f_mac, f_ip, c2)),
           note="ping the VIP: answered; ARP query for 192.0.2.11")
    t.send(0, arp_reply(c2_mac, c2, f_mac, f_ip),
           (0, front_out(c2_mac, ipv4(vip, c2, 1, echo(False, 9, 1, payload(16, 1)), ident=10, ttl=255))),
           note="client's ARP reply: echo reply from the VIP")
    return t


SCENARIOS = {
    "firewall": firewall,
    "nat": nat,
    "router": router,
    "load-balancer": load_balancer,
}


def main():
    for name, build in SCENARIOS.items():
        folder = os.path.join(ROOT, name)
        os.makedirs(folder, exist_ok=True)
        build().write(folder)
        print(f"wrote {name}/in.pcap, expected-eth0.pcap, expected-eth1.pcap, traffic.txt")


if __name__ == "__main__":
    main()
