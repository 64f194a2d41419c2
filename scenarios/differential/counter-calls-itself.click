// A Counter whose COUNT_CALL resets the counter itself: every third packet sets the count
// back to zero and re-arms the trigger, so ten packets leave a count of 1.
InfiniteSource(LIMIT 10, STOP true)
  -> c :: Counter(COUNT_CALL 3 c.reset)
  -> Discard;
DriverManager(wait_stop, print "count $(c.count)");
