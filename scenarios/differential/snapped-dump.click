// Captures cut short by a snap length, and frames longer than a regular buffer (jumbo):
// FromDump keeps what the snap length cut off as the packet's extra length, ToDump writes it
// back as the wire length, Truncate adds to it and Pad restores it as zeros.
src :: FromDump($DIR/traces/snapped.pcap, STOP true);
c :: Counter;
t :: Tee(4);
src -> c -> t;
t[0] -> ToDump(whole.pcap, SNAPLEN 0);
t[1] -> Truncate(50) -> ToDump(truncated.pcap);
t[2] -> Truncate(50, EXTRA_LENGTH false) -> ToDump(truncated-short.pcap, SNAPLEN 0);
t[3] -> Pad -> padded :: Counter -> ToDump(padded.pcap, SNAPLEN 0);
DriverManager(wait_stop, print c.count, print c.byte_count, print padded.byte_count);
