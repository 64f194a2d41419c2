/*
 * PVH entry.
 *
 * The loader (QEMU, Firecracker, Cloud Hypervisor) jumps to pvh_start32 in 32-bit protected
 * mode with paging off, flat segments, and %ebx holding the physical address of the
 * hvm_start_info structure. This code records the TSC, builds an identity map of the first
 * GiB with 2 MiB pages, enters long mode and calls rust_main(start_info_paddr).
 *
 * The loader zero-fills .bss (p_memsz > p_filesz), so the tables below start out empty.
 */

/* XEN_ELFNOTE_PHYS32_ENTRY: name "Xen", type 18, a 64-bit entry address. */
.pushsection .note.Xen, "a", @note
    .p2align 2
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .p2align 2
    .quad pvh_start32
    .p2align 2
.popsection

.set CR0_PE,       1 << 0
.set CR0_MP,       1 << 1
.set CR0_EM,       1 << 2
.set CR0_WP,       1 << 16
.set CR0_PG,       1 << 31
.set CR4_PAE,      1 << 5
.set CR4_OSFXSR,   1 << 9
.set CR4_OSXMMEXCPT, 1 << 10
.set MSR_EFER,     0xC0000080
.set EFER_LME,     1 << 8
.set EFER_NXE,     1 << 11
.set PTE_PRESENT_RW, 0x3
.set PDE_2MIB_RW,    0x83          /* present | writable | page size */

.pushsection .text.boot, "ax"
.code32
.global pvh_start32
pvh_start32:
    cli
    cld
    rdtsc
    movl %eax, BOOT_ENTRY_TSC
    movl %edx, BOOT_ENTRY_TSC + 4

    /* The tables: PML4, PDPT and PD, from the first page boundary in boot_tables. */
    movl $(boot_tables + 4095), %esi
    andl $~4095, %esi

    /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] -> i * 2 MiB for the first GiB. */
    leal (4096 + PTE_PRESENT_RW)(%esi), %eax
    movl %eax, (%esi)
    leal (8192 + PTE_PRESENT_RW)(%esi), %eax
    movl %eax, 4096(%esi)

    movl $PDE_2MIB_RW, %eax
    xorl %ecx, %ecx
1:  movl %eax, 8192(%esi,%ecx,8)
    addl $0x200000, %eax
    incl %ecx
    cmpl $512, %ecx
    jb 1b

    /* PAE paging, and SSE enabled (the compiler emits SSE for this target). */
    movl %cr4, %eax
    orl  $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    movl %eax, %cr4
    movl %esi, %cr3

    movl $MSR_EFER, %ecx
    rdmsr
    orl  $(EFER_LME | EFER_NXE), %eax
    wrmsr

    movl %cr0, %eax
    andl $~CR0_EM, %eax
    orl  $(CR0_PG | CR0_WP | CR0_MP | CR0_PE), %eax
    movl %eax, %cr0

    lgdt boot_gdt_pointer
    ljmp $0x08, $long_mode_entry

.code64
long_mode_entry:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    leaq boot_stack_top(%rip), %rsp
    xorl %ebp, %ebp
    movl %ebx, %edi
    call rust_main
2:  cli
    hlt
    jmp 2b
.popsection

/* Only used to reach long mode; arch::gdt loads the real GDT and TSS. */
.pushsection .rodata.boot_gdt, "a"
.p2align 3
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF       /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF       /* 0x10: data */
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt
.popsection

.pushsection .data.boot, "aw"
.p2align 3
.global BOOT_ENTRY_TSC
BOOT_ENTRY_TSC:
    .quad 0
.popsection

.pushsection .bss.boot, "aw", @nobits
/*
 * Three page tables and a page of slack: the code above aligns them at run time, so this
 * section needs no 4 KiB alignment (which would make the linker pad the image file to a page
 * offset before the data segment).
 */
.p2align 4
boot_tables: .skip 4 * 4096
.global boot_stack_bottom
boot_stack_bottom:
    .skip {boot_stack_size}
boot_stack_top:
.popsection
