// FastUDPSource builds the packet Click builds (TTL 250, identifier 0, UDP checksum, a zero
// payload, ports by name or number) and, with INTERVAL, moves both ports on (checksum
// recomputed). The counter stops the router once the LIMIT has passed.
FastUDPSource(0, 6, 60, 0:1:2:3:4:5, 1.0.0.1, 1234, 1:1:1:1:1:1, 2.0.0.2, dns, INTERVAL 2)
  -> Print(p, -1)
  -> c :: Counter(COUNT_CALL 6 stop)
  -> Discard;
