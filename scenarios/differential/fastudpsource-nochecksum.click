// FastUDPSource with CHECKSUM false and a longer packet: the UDP checksum field stays zero.
FastUDPSource(0, 2, 100, 0:1:2:3:4:5, 1.0.0.1, 5000, 1:1:1:1:1:1, 2.0.0.2, 5001, false)
  -> Print(p, -1)
  -> c :: Counter(COUNT_CALL 2 stop)
  -> Discard;
