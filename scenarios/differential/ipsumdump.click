// Click's text traces: FromIPSummaryDump makes the packets Click makes from a hand-written
// ipsumdump (defaults such as TTL 100, checksums with CHECKSUM true, zeros up to ip_len, C,
// octal, hex and \<..> escapes in payloads, flags as letters or numbers, the direction as
// paint), and ToIPSummaryDump writes them back as Click does; ToDump records the packets.
FromIPSummaryDump($DIR/traces/flows.ipsum, STOP true, CHECKSUM true)
  -> t :: Tee;
t[0] -> ToIPSummaryDump(summary.txt, FIELDS timestamp src sport dst dport proto ip_len ip_id
                                            ip_ttl tcp_seq tcp_ack tcp_flags payload payload_len
                                            icmp_type_name direction ip_capture_len);
t[1] -> ToDump(packets.pcap, ENCAP IP, SNAPLEN 0);
