// 802.1Q headers whole: StripEtherVLANHeader takes them off (the tag's TCI into the
// annotation; untagged frames lose their Ethernet header and get NATIVE_VLAN, or with
// NATIVE_VLAN -1 leave by output 1) and EtherVLANEncap puts them on (by whole TCI, by
// VLAN_ID and VLAN_PCP, from the annotation, untagged for the native VLAN, VLAN 0 tagged
// with no native VLAN); SetVLANAnno sets the annotation. Frames cut inside their tag (17
// bytes or fewer) only get a header. Then the handlers as Click reports them, and those
// Click can write.

wire :: FromDump($DIR/traces/vlan.pcap, STOP true);
len :: CheckLength(17);
wire -> len;
len[0] -> cut :: Counter -> SetVLANAnno(VLAN_ID 9, VLAN_PCP 1)
  -> EtherVLANEncap(0x0800, 2:0:0:0:0:1, 2:0:0:0:0:2, ANNO) -> ToDump(cut.pcap, SNAPLEN 0);
len[1] -> t :: Tee(3);

// Off, then back on from the annotation; VLAN 7 is native on the way back, and untagged
// frames come back with VLAN 0, the default native VLAN, untagged too.
t[0] -> strip :: StripEtherVLANHeader -> st :: Tee(2);
st[0] -> ToDump(strip.pcap, SNAPLEN 0);
st[1] -> back :: EtherVLANEncap(0x0800, 2:0:0:0:2:1, 2:0:0:0:2:2, ANNO, NATIVE_VLAN 7)
  -> ToDump(back.pcap, SNAPLEN 0);

// No native VLAN: untagged frames (QinQ's 0x88a8 among them) leave by output 1; tagged
// ones get a new header with a whole TCI and a priority.
t[1] -> s2 :: StripEtherVLANHeader(-1);
s2[0] -> e1 :: EtherVLANEncap(0x86dd, 0:a:b:c:d:e, ff:ff:ff:ff:ff:ff, 0x100d, 6)
  -> ToDump(tci.pcap, SNAPLEN 0);
s2[1] -> untagged :: Counter -> ToDump(untagged.pcap, SNAPLEN 0);

// Untagged frames are VLAN 5; every frame is then VLAN 0x1234's annotation, and gets a
// VLAN 0 header (no native VLAN), then one from the annotation.
t[2] -> s5 :: StripEtherVLANHeader(NATIVE_VLAN 5)
  -> a5 :: EtherVLANEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2, ANNO, NATIVE_VLAN -1)
  -> t5 :: Tee(2);
t5[0] -> ToDump(native5.pcap, SNAPLEN 0);
t5[1] -> Strip(18) -> set :: SetVLANAnno(0x1234)
  -> e2 :: EtherVLANEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2, VLAN_ID 0, NATIVE_VLAN -1)
  -> e3 :: EtherVLANEncap(0x8100, 3:3:3:3:3:3, 4:4:4:4:4:4, VLAN_TCI ANNO, NATIVE_VLAN 4095)
  -> ToDump(stack.pcap, SNAPLEN 0);

DriverManager(wait_stop,
  print cut.count, print untagged.count,
  print back.config, print back.vlan_tci, print back.vlan_id, print back.native_vlan,
  print e1.config, print e1.src, print e1.dst, print e1.ethertype,
  print e1.vlan_tci, print e1.vlan_id, print e1.vlan_pcp, print e1.native_vlan,
  print e2.config, print e2.vlan_tci, print e2.native_vlan,
  print e3.config, print e3.vlan_tci, print e3.vlan_id, print e3.native_vlan,
  write e1.src 0a:0b:0c:0d:0e:0f, write e1.dst 1-2-3-4-5-6, write e1.ethertype 0x88a8,
  print e1.config, print e1.src, print e1.ethertype,
  print set.config, print set.vlan_tci, print set.vlan_id, print set.vlan_pcp,
  write set.vlan_id 5, print set.config,
  write set.vlan_pcp 7, print set.vlan_tci,
  write set.vlan_tci 0x0102, print set.config, print set.vlan_tci,
  print strip.config, print s2.config, print s5.config);
