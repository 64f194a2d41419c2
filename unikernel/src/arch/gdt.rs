//! The GDT and TSS: a 64-bit kernel code segment, a data segment, and a TSS whose interrupt
//! stack table gives the double-fault handler a stack of its own, so a fault caused by an
//! overflowed stack is still reported.

use core::cell::UnsafeCell;

use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// Interrupt stack table slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;

const IST_STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct IstStack(UnsafeCell<[u8; IST_STACK_SIZE]>);

// SAFETY: no Rust code reads or writes the stack's bytes; only the CPU uses it, as the stack of
// the double-fault handler. Sharing its address between threads is therefore harmless.
unsafe impl Sync for IstStack {}

static DOUBLE_FAULT_STACK: IstStack = IstStack(UnsafeCell::new([0; IST_STACK_SIZE]));

struct Gdt {
    table: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static TSS: Once<TaskStateSegment> = Once::new();
static GDT: Once<Gdt> = Once::new();

/// Loads the GDT, reloads the segment registers and loads the TSS.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let stack_top = VirtAddr::from_ptr(DOUBLE_FAULT_STACK.0.get()) + IST_STACK_SIZE as u64;
        tss.interrupt_stack_table[usize::from(DOUBLE_FAULT_IST_INDEX)] = stack_top;
        tss
    });
    let gdt = GDT.call_once(|| {
        let mut table = GlobalDescriptorTable::new();
        let code = table.append(Descriptor::kernel_code_segment());
        let data = table.append(Descriptor::kernel_data_segment());
        let tss = table.append(Descriptor::tss_segment(tss));
        Gdt {
            table,
            code,
            data,
            tss,
        }
    });
    gdt.table.load();
    // SAFETY: `gdt.code` is the 64-bit kernel code segment of the GDT just loaded.
    unsafe { CS::set_reg(gdt.code) };
    // SAFETY: `gdt.data` is a writable data segment of the GDT just loaded.
    unsafe { SS::set_reg(gdt.data) };
    // SAFETY: as above.
    unsafe { DS::set_reg(gdt.data) };
    // SAFETY: as above.
    unsafe { ES::set_reg(gdt.data) };
    // SAFETY: `gdt.tss` selects a valid, not yet loaded TSS descriptor whose TSS is 'static.
    unsafe { load_tss(gdt.tss) };
}
