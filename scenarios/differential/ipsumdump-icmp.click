// ICMP lines of a text trace: a payload is the whole ICMP message (it wins over icmp_type);
// without one, FromIPSummaryDump makes an 8-byte header of the given type.
FromIPSummaryDump($DIR/traces/icmp.ipsum, STOP true, CHECKSUM true)
  -> t :: Tee;
t[0] -> ToIPSummaryDump(summary.txt, FIELDS src dst proto ip_len icmp_type payload);
t[1] -> ToDump(packets.pcap, ENCAP IP, SNAPLEN 0);
