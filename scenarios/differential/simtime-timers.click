// Simulated time: Script's waits are timers the driver jumps to instead of waiting (1006
// simulated seconds pass in no time), and every fresh read of the clock moves it on by a
// nanosecond, as under click --simtime, so the packets' timestamps match Click's.
src :: InfiniteSource(LIMIT 2, ACTIVE false) -> ToDump(waited.pcap);
Script(wait 1000s, write src.active true, wait 5s, write src.reset, wait 1s, stop);
