// A source NAT over a capture with jumbo and snapped frames: every whole frame, 9014 bytes or
// 60, takes the next port, so one frame lost shifts every later mapping. Snapped IP frames
// fail CheckIPHeader's length test (their IP length exceeds the captured bytes).
FromDump($DIR/traces/snapped.pcap, STOP true)
  -> Strip(14)
  -> chk :: CheckIPHeader
  -> rw :: IPRewriter(pattern 192.0.2.1 20000-20100# - - 0 0);
rw[0] -> IPPrint(out, TIMESTAMP false, LENGTH true) -> Unstrip(14) -> ToDump(nat.pcap, SNAPLEN 0);
chk[1] -> bad :: Counter -> Discard;
DriverManager(wait_stop, print bad.count, print rw.nmappings);
