//! The PVH start information: the structure the loader leaves in memory and passes in `%ebx`
//! (`hvm_start_info` in Xen's `arch-x86/hvm/start_info.h`), with the command line and the
//! memory map (E820 types).
//!
//! [`init`] checks the magic number and keeps the parsed [`BootInfo`] for the rest of the
//! kernel's life; [`boot_info`] and [`cmdline`] read it from anywhere.
//!
//! Nothing the loader passes is dereferenced before [`table::check_table`] has placed it:
//! not 0, a sane entry count, aligned for the slice the kernel forms over it, and inside the
//! boot identity map ([`BOOT_IDENTITY_MAP_END`]). A table that fails is a [`PvhError`], which
//! the kernel prints before it stops.

pub mod cmdline;
pub mod table;

use core::ops::Range;

use spin::Once;

use crate::arch::paging::BOOT_IDENTITY_MAP_END;

pub use cmdline::{BadVirtioMmioParam, Cmdline, Param, VirtioMmioDevice};
pub use table::TableError;

use table::{check_table, string_scan_limit, EntryLayout};

/// `hvm_start_info.magic`: "xEn3" with the top bit of each byte cleared.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;

/// Longest command line read; the rest is ignored.
const MAX_CMDLINE_LEN: usize = 4096;

/// Most memory map entries accepted: as many as Linux's boot protocol holds
/// (`E820_MAX_ENTRIES_ZEROPAGE`). QEMU passes fewer than ten.
const MAX_MEMMAP_ENTRIES: u64 = 128;

/// `hvm_start_info`, version 1.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// One boot module (`hvm_modlist_entry`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct ModlistEntry {
    paddr: u64,
    size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

/// One memory map entry (`hvm_memmap_table_entry`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemmapEntry {
    pub addr: u64,
    pub size: u64,
    /// E820 type; [`MemmapEntry::is_ram`] tells usable RAM.
    pub kind: u32,
    reserved: u32,
}

impl MemmapEntry {
    /// E820 type of usable RAM.
    pub const RAM: u32 = 1;

    pub fn is_ram(&self) -> bool {
        self.kind == Self::RAM
    }

    pub fn range(&self) -> Range<u64> {
        self.addr..self.addr.saturating_add(self.size)
    }
}

/// What the loader told the kernel.
#[derive(Debug)]
pub struct BootInfo {
    pub start_info_addr: u64,
    pub cmdline: Cmdline<'static>,
    pub memmap: &'static [MemmapEntry],
    /// The first boot module (`-initrd FILE` under QEMU), if the loader passed one.
    pub module: Option<&'static [u8]>,
    /// The loader passed an ACPI RSDP: the machine has ACPI (which decides microvm's
    /// interrupt lines, see `net::microvm`).
    pub acpi: bool,
    /// Physical ranges the boot information itself occupies (start info, command line, memory
    /// map, first module), which the heap must not overlap.
    pub reserved: [Range<u64>; 4],
}

/// Why the start information cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PvhError {
    /// `%ebx` was 0: not started through the PVH entry point.
    NoStartInfo,
    /// The magic number is wrong: not a PVH start info structure.
    BadMagic(u32),
    /// The command line is not UTF-8.
    CmdlineNotUtf8,
    /// A table the start info points to cannot be read safely.
    Table {
        /// Which one: "start info", "memory map", ...
        table: &'static str,
        error: TableError,
    },
}

impl core::fmt::Display for PvhError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoStartInfo => {
                f.write_str("no PVH start info (not booted through the PVH entry)")
            }
            Self::BadMagic(magic) => {
                write!(
                    f,
                    "bad PVH start info magic {magic:#x}, expected {START_INFO_MAGIC:#x}"
                )
            }
            Self::CmdlineNotUtf8 => f.write_str("kernel command line is not UTF-8"),
            Self::Table { table, error } => write!(f, "{table}: {error}"),
        }
    }
}

static BOOT_INFO: Once<BootInfo> = Once::new();

/// Validates and records the start information at physical address `start_info_paddr`.
///
/// # Safety
///
/// `start_info_paddr` must be the value the PVH loader passed in `%ebx` (or 0), and the memory
/// it describes must stay untouched for the life of the kernel (the heap avoids
/// [`BootInfo::reserved`]).
pub unsafe fn init(start_info_paddr: u32) -> Result<&'static BootInfo, PvhError> {
    if let Some(info) = BOOT_INFO.get() {
        return Ok(info);
    }
    // SAFETY: forwarded from this function's contract.
    let info = unsafe { parse(u64::from(start_info_paddr)) }?;
    Ok(BOOT_INFO.call_once(|| info))
}

/// The boot information, once [`init`] succeeded.
pub fn boot_info() -> Option<&'static BootInfo> {
    BOOT_INFO.get()
}

/// The kernel command line (empty before [`init`]).
pub fn cmdline() -> Cmdline<'static> {
    boot_info().map(|info| info.cmdline).unwrap_or_default()
}

/// # Safety
///
/// As for [`init`]; all addresses are physical and identity mapped.
unsafe fn parse(addr: u64) -> Result<BootInfo, PvhError> {
    if addr == 0 {
        return Err(PvhError::NoStartInfo);
    }
    let table = |table| move |error| PvhError::Table { table, error };
    let start_range = check_table(
        addr,
        1,
        EntryLayout::unaligned::<StartInfo>(),
        1,
        BOOT_IDENTITY_MAP_END,
    )
    .map_err(table("start info"))?;
    let ptr = addr as *const StartInfo;
    // SAFETY: the loader placed a `StartInfo` at `addr`, which lies inside the identity map
    // (checked above); the magic check below rejects anything else. `read_unaligned` makes
    // no alignment claim.
    let start = unsafe { ptr.read_unaligned() };
    if start.magic != START_INFO_MAGIC {
        return Err(PvhError::BadMagic(start.magic));
    }

    let cmdline_bytes = if start.cmdline_paddr == 0 {
        &[][..]
    } else {
        let limit = string_scan_limit(
            start.cmdline_paddr,
            MAX_CMDLINE_LEN as u64,
            BOOT_IDENTITY_MAP_END,
        )
        .map_err(table("command line"))?;
        // SAFETY: the loader wrote a NUL-terminated command line at `cmdline_paddr`, and
        // the `limit` bytes from there are identity mapped (checked above).
        unsafe { c_string(start.cmdline_paddr, limit as usize) }
    };
    let cmdline = core::str::from_utf8(cmdline_bytes).map_err(|_| PvhError::CmdlineNotUtf8)?;

    let (memmap, memmap_range): (&'static [MemmapEntry], _) =
        if start.version >= 1 && start.memmap_paddr != 0 {
            let range = check_table(
                start.memmap_paddr,
                u64::from(start.memmap_entries),
                EntryLayout::of::<MemmapEntry>(),
                MAX_MEMMAP_ENTRIES,
                BOOT_IDENTITY_MAP_END,
            )
            .map_err(table("memory map"))?;
            // SAFETY: a version 1 loader wrote `memmap_entries` entries at `memmap_paddr`,
            // never written again; the table is aligned for `MemmapEntry`, its count is
            // bounded and it lies inside the identity map (all checked above).
            let entries = unsafe {
                core::slice::from_raw_parts(
                    start.memmap_paddr as *const MemmapEntry,
                    start.memmap_entries as usize,
                )
            };
            (entries, range)
        } else {
            (&[][..], 0..0)
        };

    let module: Option<&'static [u8]> = if start.nr_modules > 0 && start.modlist_paddr != 0 {
        check_table(
            start.modlist_paddr,
            1,
            EntryLayout::unaligned::<ModlistEntry>(),
            1,
            BOOT_IDENTITY_MAP_END,
        )
        .map_err(table("module list"))?;
        // SAFETY: the loader wrote `nr_modules` entries at `modlist_paddr`; the first lies
        // inside the identity map (checked above) and is read without an alignment claim.
        let entry = unsafe { (start.modlist_paddr as *const ModlistEntry).read_unaligned() };
        if entry.paddr != 0 && entry.size > 0 {
            check_table(
                entry.paddr,
                entry.size,
                EntryLayout::BYTES,
                BOOT_IDENTITY_MAP_END,
                BOOT_IDENTITY_MAP_END,
            )
            .map_err(table("boot module"))?;
            // SAFETY: the module's bytes were loaded at `paddr`, inside the identity map
            // (checked above), and are reserved from the heap below, so nothing writes them.
            Some(unsafe {
                core::slice::from_raw_parts(entry.paddr as *const u8, entry.size as usize)
            })
        } else {
            None
        }
    } else {
        None
    };

    // Every range below lies inside the identity map (checked above), so none wraps.
    let span = |start: u64, len: usize| start..start + len as u64;
    Ok(BootInfo {
        start_info_addr: addr,
        cmdline: Cmdline::new(cmdline),
        memmap,
        reserved: [
            start_range,
            span(start.cmdline_paddr, cmdline_bytes.len() + 1),
            memmap_range,
            module.map_or(0..0, |m| span(m.as_ptr() as u64, m.len())),
        ],
        module,
        acpi: start.rsdp_paddr != 0,
    })
}

/// The bytes of the NUL-terminated string at `addr`, at most `limit` of them.
///
/// # Safety
///
/// `addr..addr + limit` is readable memory that stays unchanged for the rest of the kernel.
unsafe fn c_string(addr: u64, limit: usize) -> &'static [u8] {
    let ptr = addr as *const u8;
    let mut len = 0;
    while len < limit {
        // SAFETY: `len < limit`, and the first `limit` bytes are readable (contract).
        let byte = unsafe { ptr.wrapping_add(len).read() };
        if byte == 0 {
            break;
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read and stay unchanged.
    unsafe { core::slice::from_raw_parts(ptr, len) }
}
