// Script's random handler draws from the router's random sequence as Click's does.
RandomSeed(3);
Script(print "$(random) $(random 5 9) $(random 100 200) $(random 0 4294967295)", stop);
