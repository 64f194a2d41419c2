//! Unit tests of the checks on the PVH loader's tables, compiled for the host from the
//! kernel's own source file (it uses only `core`).

#[path = "../../src/pvh/table.rs"]
mod table;

use table::{check_table, string_scan_limit, EntryLayout, TableError};

/// The kernel's identity map: the first GiB.
const MAPPED_END: u64 = 1 << 30;

/// `hvm_memmap_table_entry`: 24 bytes, 8-byte aligned.
const MEMMAP_ENTRY: EntryLayout = EntryLayout { size: 24, align: 8 };

#[test]
fn a_table_inside_the_map_yields_its_byte_range() {
    assert_eq!(
        check_table(0x9000, 3, MEMMAP_ENTRY, 128, MAPPED_END),
        Ok(0x9000..0x9000 + 72)
    );
    assert_eq!(
        check_table(0x9000, 0, MEMMAP_ENTRY, 128, MAPPED_END),
        Ok(0x9000..0x9000)
    );
    // Ending exactly at the end of the map is fine.
    assert_eq!(
        check_table(MAPPED_END - 48, 2, MEMMAP_ENTRY, 128, MAPPED_END),
        Ok(MAPPED_END - 48..MAPPED_END)
    );
}

#[test]
fn address_zero_is_absent() {
    assert_eq!(
        check_table(0, 1, MEMMAP_ENTRY, 128, MAPPED_END),
        Err(TableError::Null)
    );
    assert_eq!(
        string_scan_limit(0, 4096, MAPPED_END),
        Err(TableError::Null)
    );
}

#[test]
fn entry_count_beyond_the_maximum_is_refused() {
    assert_eq!(
        check_table(0x9000, 129, MEMMAP_ENTRY, 128, MAPPED_END),
        Err(TableError::TooManyEntries {
            count: 129,
            max: 128
        })
    );
    assert_eq!(
        check_table(0x9000, u64::from(u32::MAX), MEMMAP_ENTRY, 128, MAPPED_END),
        Err(TableError::TooManyEntries {
            count: u64::from(u32::MAX),
            max: 128
        })
    );
}

#[test]
fn misaligned_table_is_refused_unless_read_unaligned() {
    for addr in [0x9001, 0x9004, 0x9007] {
        assert_eq!(
            check_table(addr, 1, MEMMAP_ENTRY, 128, MAPPED_END),
            Err(TableError::Misaligned { addr, align: 8 })
        );
        let unaligned = EntryLayout { size: 24, align: 1 };
        assert!(check_table(addr, 1, unaligned, 1, MAPPED_END).is_ok());
    }
}

#[test]
fn table_beyond_the_identity_map_is_refused() {
    let outside = |addr, len| TableError::OutsideIdentityMap {
        addr,
        len,
        mapped_end: MAPPED_END,
    };
    // Starts inside, ends one entry past the end.
    assert_eq!(
        check_table(MAPPED_END - 24, 2, MEMMAP_ENTRY, 128, MAPPED_END),
        Err(outside(MAPPED_END - 24, 48))
    );
    // Starts beyond the map (a 64-bit address from a confused loader).
    assert_eq!(
        check_table(0xfee0_0000, 1, MEMMAP_ENTRY, 128, MAPPED_END),
        Err(outside(0xfee0_0000, 24))
    );
    // Wraps around the address space.
    let near_top = u64::MAX - 7;
    assert_eq!(
        check_table(near_top, 2, MEMMAP_ENTRY, 128, u64::MAX),
        Err(TableError::OutsideIdentityMap {
            addr: near_top,
            len: 48,
            mapped_end: u64::MAX
        })
    );
    // A byte range (a boot module) whose size overflows.
    assert!(matches!(
        check_table(
            0x10_0000,
            u64::MAX,
            EntryLayout::BYTES,
            u64::MAX,
            MAPPED_END
        ),
        Err(TableError::OutsideIdentityMap { .. })
    ));
}

#[test]
fn layout_of_a_type_matches_its_size_and_alignment() {
    #[repr(C)]
    struct Entry {
        _addr: u64,
        _size: u64,
        _kind: u32,
        _reserved: u32,
    }
    assert_eq!(EntryLayout::of::<Entry>(), MEMMAP_ENTRY);
    assert_eq!(
        EntryLayout::unaligned::<Entry>(),
        EntryLayout { size: 24, align: 1 }
    );
}

#[test]
fn string_scan_stops_at_the_end_of_the_map() {
    assert_eq!(string_scan_limit(0x7000, 4096, MAPPED_END), Ok(4096));
    assert_eq!(string_scan_limit(MAPPED_END - 10, 4096, MAPPED_END), Ok(10));
    assert_eq!(
        string_scan_limit(MAPPED_END, 4096, MAPPED_END),
        Err(TableError::OutsideIdentityMap {
            addr: MAPPED_END,
            len: 1,
            mapped_end: MAPPED_END
        })
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let message = TableError::Misaligned {
        addr: 0x9004,
        align: 8,
    }
    .to_string();
    assert_eq!(message, "address 0x9004 is not 8-byte aligned");
    let message = TableError::TooManyEntries {
        count: 300,
        max: 128,
    }
    .to_string();
    assert_eq!(message, "300 entries, more than the 128 a loader can pass");
}
