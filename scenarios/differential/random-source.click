// RandomSource fills its packets from the router's random sequence, four bytes per number,
// low byte first; lengths that are not a multiple of four end mid-number.
RandomSeed(7);
RandomSource(10, LIMIT 3, STOP true) -> Print(r, 16, TIMESTAMP false) -> Discard;
