//! The IDT and the exception handlers.
//!
//! Every CPU exception vector (0-31) enters a small assembly stub that pushes a uniform
//! [`TrapFrame`] (a zero error code where the CPU pushes none, the vector number and all
//! general-purpose registers) and calls [`exception_dispatch`]. An exception in this kernel is
//! always a bug, so the dispatcher prints the exception's name, error code, RIP, RSP, CR2 and
//! the registers on the serial console and exits with [`ExitCode::Exception`]. Double faults run
//! on their own IST stack (see [`super::gdt`]).

use core::arch::global_asm;
use core::fmt::Write;

use spin::Once;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{Entry, EntryOptions, InterruptDescriptorTable};
use x86_64::VirtAddr;

use super::gdt::DOUBLE_FAULT_IST_INDEX;
use crate::exit::{exit, ExitCode};
use crate::serial::EmergencyWriter;

/// Registers as pushed by the exception stubs, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

// Vectors for which the CPU pushes an error code: 8, 10-14, 17, 21, 29, 30. The others get a
// zero pushed by their stub so that every handler sees the same frame layout. After the 15
// register pushes the frame is 176 bytes, so RSP stays 16-byte aligned for the call.
global_asm!(
    r#"
    .macro EXCEPTION_STUB vector, has_error_code
    .balign 16
    exception_stub_\vector:
    .if \has_error_code == 0
        push 0
    .endif
        push \vector
        jmp exception_common
    .endm

    .pushsection .text.exceptions, "ax"
    EXCEPTION_STUB 0, 0
    EXCEPTION_STUB 1, 0
    EXCEPTION_STUB 2, 0
    EXCEPTION_STUB 3, 0
    EXCEPTION_STUB 4, 0
    EXCEPTION_STUB 5, 0
    EXCEPTION_STUB 6, 0
    EXCEPTION_STUB 7, 0
    EXCEPTION_STUB 8, 1
    EXCEPTION_STUB 9, 0
    EXCEPTION_STUB 10, 1
    EXCEPTION_STUB 11, 1
    EXCEPTION_STUB 12, 1
    EXCEPTION_STUB 13, 1
    EXCEPTION_STUB 14, 1
    EXCEPTION_STUB 15, 0
    EXCEPTION_STUB 16, 0
    EXCEPTION_STUB 17, 1
    EXCEPTION_STUB 18, 0
    EXCEPTION_STUB 19, 0
    EXCEPTION_STUB 20, 0
    EXCEPTION_STUB 21, 1
    EXCEPTION_STUB 22, 0
    EXCEPTION_STUB 23, 0
    EXCEPTION_STUB 24, 0
    EXCEPTION_STUB 25, 0
    EXCEPTION_STUB 26, 0
    EXCEPTION_STUB 27, 0
    EXCEPTION_STUB 28, 0
    EXCEPTION_STUB 29, 1
    EXCEPTION_STUB 30, 1
    EXCEPTION_STUB 31, 0

    exception_common:
        push rax
        push rbx
        push rcx
        push rdx
        push rsi
        push rdi
        push rbp
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        mov rdi, rsp
        cld
        call {dispatch}
        ud2

    // External interrupts only wake the CPU from `hlt` (see `apic`): signal end of
    // interrupt and return with IF clear in the saved RFLAGS, so the interrupted code goes
    // on with interrupts disabled. Above the pushed RAX the frame is RIP, CS, RFLAGS.
    .balign 16
    .global wake_stub
    wake_stub:
        push rax
        mov rax, qword ptr [rip + {eoi}]
        mov dword ptr [rax], 0
        and qword ptr [rsp + 24], ~0x200
        pop rax
        iretq

    // The spurious vector: no end of interrupt.
    .balign 16
    .global spurious_stub
    spurious_stub:
        and qword ptr [rsp + 16], ~0x200
        iretq
    .popsection

    .pushsection .rodata.exception_stubs, "a"
    .balign 8
    .global EXCEPTION_STUBS
    EXCEPTION_STUBS:
    .irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad exception_stub_\vector
    .endr
    .popsection
    "#,
    dispatch = sym exception_dispatch,
    eoi = sym super::apic::EOI_REGISTER,
);

extern "C" {
    /// Entry addresses of the 32 exception stubs, indexed by vector.
    static EXCEPTION_STUBS: [u64; 32];
    fn wake_stub();
    fn spurious_stub();
}

/// Mnemonic and name of each exception vector.
const EXCEPTIONS: [(&str, &str); 32] = [
    ("#DE", "divide error"),
    ("#DB", "debug"),
    ("NMI", "non-maskable interrupt"),
    ("#BP", "breakpoint"),
    ("#OF", "overflow"),
    ("#BR", "bound range exceeded"),
    ("#UD", "invalid opcode"),
    ("#NM", "device not available"),
    ("#DF", "double fault"),
    ("#MF", "coprocessor segment overrun"),
    ("#TS", "invalid TSS"),
    ("#NP", "segment not present"),
    ("#SS", "stack-segment fault"),
    ("#GP", "general protection fault"),
    ("#PF", "page fault"),
    ("-", "reserved"),
    ("#MF", "x87 floating-point exception"),
    ("#AC", "alignment check"),
    ("#MC", "machine check"),
    ("#XM", "SIMD floating-point exception"),
    ("#VE", "virtualization exception"),
    ("#CP", "control protection exception"),
    ("-", "reserved"),
    ("-", "reserved"),
    ("-", "reserved"),
    ("-", "reserved"),
    ("-", "reserved"),
    ("-", "reserved"),
    ("#HV", "hypervisor injection exception"),
    ("#VC", "VMM communication exception"),
    ("#SX", "security exception"),
    ("-", "reserved"),
];

/// The page-fault vector, whose CR2 is worth decoding.
const PAGE_FAULT_VECTOR: u64 = 14;

static IDT: Once<InterruptDescriptorTable> = Once::new();

/// Builds and loads the IDT.
pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        set_stub(&mut idt.divide_error, 0);
        set_stub(&mut idt.debug, 1);
        set_stub(&mut idt.non_maskable_interrupt, 2);
        set_stub(&mut idt.breakpoint, 3);
        set_stub(&mut idt.overflow, 4);
        set_stub(&mut idt.bound_range_exceeded, 5);
        set_stub(&mut idt.invalid_opcode, 6);
        set_stub(&mut idt.device_not_available, 7);
        let double_fault = set_stub(&mut idt.double_fault, 8);
        // SAFETY: the IST slot is set up by `gdt::init` (which runs first) with a stack used
        // for nothing else.
        unsafe { double_fault.set_stack_index(DOUBLE_FAULT_IST_INDEX) };
        set_stub(&mut idt.invalid_tss, 10);
        set_stub(&mut idt.segment_not_present, 11);
        set_stub(&mut idt.stack_segment_fault, 12);
        set_stub(&mut idt.general_protection_fault, 13);
        set_stub(&mut idt.page_fault, 14);
        set_stub(&mut idt.x87_floating_point, 16);
        set_stub(&mut idt.alignment_check, 17);
        set_stub(&mut idt.machine_check, 18);
        set_stub(&mut idt.simd_floating_point, 19);
        set_stub(&mut idt.virtualization, 20);
        set_stub(&mut idt.cp_protection_exception, 21);
        set_stub(&mut idt.hv_injection_exception, 28);
        set_stub(&mut idt.vmm_communication_exception, 29);
        set_stub(&mut idt.security_exception, 30);
        for vector in 32..=u8::MAX {
            let stub = if vector == super::apic::SPURIOUS_VECTOR {
                spurious_stub as *const () as usize
            } else {
                wake_stub as *const () as usize
            };
            // SAFETY: the stubs expect the frame the CPU pushes for an external interrupt
            // (no error code) and end in `iretq`; they live in .text for the life of the
            // kernel. Interrupts are enabled only around `hlt` (see `apic`).
            unsafe { idt[vector].set_handler_addr(VirtAddr::new(stub as u64)) };
        }
        idt
    });
    idt.load();
}

/// Points `entry` at the stub of `vector`.
fn set_stub<F>(entry: &mut Entry<F>, vector: usize) -> &mut EntryOptions {
    // SAFETY: `EXCEPTION_STUBS` is an immutable table in .rodata filled in by the assembler.
    let stub = unsafe { EXCEPTION_STUBS[vector] };
    // SAFETY: every caller passes the entry of `vector` itself, so the stub matches what the CPU
    // pushes for it (it handles both frame shapes and never returns); stubs live in .text for
    // the life of the kernel.
    unsafe { entry.set_handler_addr(VirtAddr::new(stub)) }
}

/// Reports an exception and exits; called by the stubs with a pointer to the saved frame.
extern "C" fn exception_dispatch(frame: &TrapFrame) -> ! {
    let (mnemonic, name) = usize::try_from(frame.vector)
        .ok()
        .and_then(|vector| EXCEPTIONS.get(vector))
        .copied()
        .unwrap_or(("?", "unknown vector"));
    let mut out = EmergencyWriter::new();
    let _ = writeln!(
        out,
        "\nEXCEPTION {mnemonic} {name} (vector {}) error_code={:#x}",
        frame.vector, frame.error_code
    );
    let _ = writeln!(
        out,
        "  rip={:#018x} rsp={:#018x} cr2={:#018x} rflags={:#x} cs={:#x} ss={:#x}",
        frame.rip,
        frame.rsp,
        Cr2::read_raw(),
        frame.rflags,
        frame.cs,
        frame.ss
    );
    if frame.vector == PAGE_FAULT_VECTOR {
        let e = frame.error_code;
        let _ = writeln!(
            out,
            "  page fault: {} {} in {} mode{}",
            if e & 1 != 0 {
                "protection violation on"
            } else {
                "non-present page on"
            },
            if e & (1 << 4) != 0 {
                "instruction fetch"
            } else if e & 2 != 0 {
                "write"
            } else {
                "read"
            },
            if e & 4 != 0 { "user" } else { "kernel" },
            if e & 8 != 0 { ", reserved bit set" } else { "" },
        );
    }
    let registers = [
        ("rax", frame.rax),
        ("rbx", frame.rbx),
        ("rcx", frame.rcx),
        ("rdx", frame.rdx),
        ("rsi", frame.rsi),
        ("rdi", frame.rdi),
        ("rbp", frame.rbp),
        ("r8", frame.r8),
        ("r9", frame.r9),
        ("r10", frame.r10),
        ("r11", frame.r11),
        ("r12", frame.r12),
        ("r13", frame.r13),
        ("r14", frame.r14),
        ("r15", frame.r15),
    ];
    for row in registers.chunks(4) {
        let _ = write!(out, " ");
        for (register, value) in row {
            let _ = write!(out, " {register:>3}={value:#018x}");
        }
        let _ = writeln!(out);
    }
    exit(ExitCode::Exception)
}
