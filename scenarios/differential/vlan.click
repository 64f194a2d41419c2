// 802.1Q and QinQ tags: VLANDecap keeps the TCI in the annotation and VLANEncap(ANNO) puts
// it back (a VLAN ID equal to NATIVE_VLAN, 0 by default, goes untagged); VLANEncap with a
// whole TCI, with VLAN_ID and VLAN_PCP, with another ETHERTYPE; Classifier on the tag's
// type and its priority and VLAN bits. Frames cut inside their tag (15 bytes or fewer) are
// only decapsulated.

wire :: FromDump($DIR/traces/vlan.pcap, STOP true);
len :: CheckLength(15);
wire -> len;
len[0] -> cut :: Counter -> VLANDecap -> ToDump(cut.pcap, SNAPLEN 0);
len[1] -> t :: Tee(4);

// What the tags say.
t[0] -> cls :: Classifier(12/8100 14/a0%e0, 12/8100 14/000a%0fff, 12/8100, 12/88a8 16/8100,
                          12/88a8, 12/0800, -);
cls[0] -> prio5 :: Counter -> Discard;
cls[1] -> vlan10 :: Counter -> Discard;
cls[2] -> dot1q :: Counter -> Discard;
cls[3] -> qinq :: Counter -> Discard;
cls[4] -> stag :: Counter -> Discard;
cls[5] -> untagged :: Counter -> Discard;
cls[6] -> other :: Counter -> Discard;

// Off and back on, through the annotation.
t[1] -> dec :: VLANDecap -> dt :: Tee(2);
dt[0] -> ToDump(decap.pcap, SNAPLEN 0);
dt[1] -> anno :: VLANEncap(ANNO) -> ToDump(anno.pcap, SNAPLEN 0);

// The service tag off, the customer tag off without the annotation, a new service tag on.
t[2] -> VLANDecap(ETHERTYPE 0x88a8) -> VLANDecap(false)
  -> stag300 :: VLANEncap(VLAN_ID 300, VLAN_PCP 2, ETHERTYPE 0x88a8)
  -> ToDump(qinq.pcap, SNAPLEN 0);

// Tags on tags: a whole TCI with a priority, VLAN 0 with no native VLAN, a keyword TCI,
// and one whose VLAN is native (no tag).
t[3] -> e1 :: VLANEncap(100, 5)
  -> e2 :: VLANEncap(VLAN_ID 0, NATIVE_VLAN -1)
  -> e3 :: VLANEncap(VLAN_TCI 0x1234, ETHERTYPE 0x9100)
  -> e4 :: VLANEncap(VLAN_ID 7, NATIVE_VLAN 7)
  -> ToDump(stack.pcap, SNAPLEN 0);

DriverManager(wait_stop,
  print cut.count, print prio5.count, print vlan10.count, print dot1q.count,
  print qinq.count, print stag.count, print untagged.count, print other.count,
  print anno.config, print anno.vlan_tci, print anno.vlan_id, print anno.native_vlan,
  print stag300.config, print stag300.vlan_tci, print stag300.vlan_pcp, print stag300.ethertype,
  print e1.config, print e1.vlan_tci, print e1.vlan_id, print e1.vlan_pcp, print e1.native_vlan,
  print e2.config, print e2.vlan_tci, print e2.native_vlan,
  print e3.config, print e3.vlan_tci, print e3.vlan_id, print e3.vlan_pcp,
  print e4.config, print e4.native_vlan, print dec.config);
