// Two ICMPError elements count one IP identifier sequence, as Click's do: errors from either
// element carry identifiers 1, 2, 3, ... in the order they are made.
FromDump($DIR/traces/snapped.pcap, STOP true)
  -> Strip(14)
  -> CheckIPHeader
  -> rs :: RoundRobinSwitch;
out :: ToDump(errors.pcap, SNAPLEN 0, ENCAP IP);
rs[0] -> ICMPError(192.0.2.254, timeexceeded) -> IPPrint(ttl, TIMESTAMP false, ID true) -> out;
rs[1] -> ICMPError(192.0.2.254, unreachable, host) -> IPPrint(unreach, TIMESTAMP false, ID true) -> out;
