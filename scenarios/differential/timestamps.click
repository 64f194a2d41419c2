// Timestamps of a nanosecond capture: Print and IPPrint show microseconds when the time falls
// on a whole microsecond and nanoseconds otherwise; ToDump keeps nanoseconds by default and
// truncates to microseconds with NANO false.
FromDump($DIR/traces/nano.pcap, STOP true)
  -> Print(p, 0, TIMESTAMP true)
  -> t :: Tee;
t[0] -> ToDump(nano.pcap, SNAPLEN 0);
t[1] -> ToDump(micro.pcap, SNAPLEN 0, NANO false) -> Strip(14) -> CheckIPHeader -> IPPrint(i) -> Discard;
