//! Checks on the tables the PVH loader leaves in memory (start info, memory map, module list,
//! command line) before the kernel forms a pointer or a slice over them.
//!
//! A table is `count` entries of one [`EntryLayout`] at a physical address. It may be read
//! only if its address is not 0, the count is sane, the address suits the entries' alignment
//! and the whole table lies below the end of the identity map, without wrapping. These are
//! pure functions of numbers, so a wrong start info is reported, not dereferenced.
//!
//! This file uses only `core`, so the host-side tests compile it as it is.

use core::ops::Range;

/// Size and alignment of one table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryLayout {
    pub size: u64,
    pub align: u64,
}

impl EntryLayout {
    /// The layout of `T`, for a table that becomes a `&[T]`.
    pub const fn of<T>() -> Self {
        Self {
            size: core::mem::size_of::<T>() as u64,
            align: core::mem::align_of::<T>() as u64,
        }
    }

    /// The layout of `T` read with `read_unaligned`: any address will do.
    pub const fn unaligned<T>() -> Self {
        Self {
            size: core::mem::size_of::<T>() as u64,
            align: 1,
        }
    }

    /// Bytes: for strings and boot modules.
    pub const BYTES: Self = Self { size: 1, align: 1 };
}

/// Why a table cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableError {
    /// The address is 0, which the PVH ABI reserves for "absent".
    Null,
    /// More entries than any loader passes: the count is garbage.
    TooManyEntries { count: u64, max: u64 },
    /// The address does not suit the entries' alignment.
    Misaligned { addr: u64, align: u64 },
    /// Part of the table lies at or beyond `mapped_end` (or the end wraps around the address
    /// space), where the kernel has no mapping.
    OutsideIdentityMap {
        addr: u64,
        len: u64,
        mapped_end: u64,
    },
}

impl core::fmt::Display for TableError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Null => f.write_str("address 0"),
            Self::TooManyEntries { count, max } => {
                write!(f, "{count} entries, more than the {max} a loader can pass")
            }
            Self::Misaligned { addr, align } => {
                write!(f, "address {addr:#x} is not {align}-byte aligned")
            }
            Self::OutsideIdentityMap {
                addr,
                len,
                mapped_end,
            } => write!(
                f,
                "{len:#x} bytes at {addr:#x} reach beyond the identity-mapped memory \
                 (0..{mapped_end:#x})"
            ),
        }
    }
}

/// The physical byte range of `count` entries of `layout` at `addr`, if the kernel may read
/// them: `addr` is not 0, `count <= max_count`, `addr` is a multiple of `layout.align` and
/// the range ends at or below `mapped_end`.
pub fn check_table(
    addr: u64,
    count: u64,
    layout: EntryLayout,
    max_count: u64,
    mapped_end: u64,
) -> Result<Range<u64>, TableError> {
    if addr == 0 {
        return Err(TableError::Null);
    }
    if count > max_count {
        return Err(TableError::TooManyEntries {
            count,
            max: max_count,
        });
    }
    if layout.align > 1 && !addr.is_multiple_of(layout.align) {
        return Err(TableError::Misaligned {
            addr,
            align: layout.align,
        });
    }
    let outside = |len| TableError::OutsideIdentityMap {
        addr,
        len,
        mapped_end,
    };
    let len = count.checked_mul(layout.size).ok_or(outside(u64::MAX))?;
    match addr.checked_add(len) {
        Some(end) if end <= mapped_end => Ok(addr..end),
        _ => Err(outside(len)),
    }
}

/// How many bytes of a NUL-terminated string at `addr` may be scanned: at most `max_len`, and
/// none at or beyond `mapped_end`.
pub fn string_scan_limit(addr: u64, max_len: u64, mapped_end: u64) -> Result<u64, TableError> {
    if addr == 0 {
        return Err(TableError::Null);
    }
    if addr >= mapped_end {
        return Err(TableError::OutsideIdentityMap {
            addr,
            len: 1,
            mapped_end,
        });
    }
    Ok(max_len.min(mapped_end - addr))
}
