//! Interrupts, only to wake a halted CPU: the local APIC (its timer and end-of-interrupt) and
//! the I/O APIC that routes device lines to it.
//!
//! The kernel runs with interrupts disabled. [`Interrupts::sleep`] enables them for one `hlt`
//! (`sti; hlt`: an interrupt already pending wakes the `hlt` at once, so none is lost), and
//! every external vector's handler (see [`super::idt`]) signals end-of-interrupt and returns
//! with the interrupt flag clear again, to the instruction after the `hlt`. Handlers do
//! nothing else: the main loop polls whatever woke it.
//!
//! **Lines.** A line is routed with its [`Trigger`] mode, active high. virtio-mmio lines and
//! the 16550's are edge-triggered: virtio-mmio raises its line while its interrupt status is
//! non-zero and the driver acknowledges it before it looks at its rings one last time (see
//! `NetDevice::arm_wakeup`); the 16550 raises its line while received data waits and the
//! control channel drains it. Either way a new event after the last look is a new edge. PCI
//! INTx lines are level-triggered, because PCI functions share them (on q35 every NIC behind
//! the root ports of one slot raises the same line): with edge triggering, a function that
//! asserts the line while another still holds it up makes no edge, and the CPU could sleep
//! through it. A level-triggered line that is still up after the end of interrupt is
//! delivered again, so at worst the CPU wakes once more than it needs to. Level-triggered
//! lines get a vector of their own ([`LEVEL_VECTOR`]): the local APIC remembers the trigger
//! mode per vector, and an edge accepted on the same vector would make it skip the end of
//! interrupt the I/O APIC waits for before it delivers the line again.
//!
//! **Legacy PIC.** Firmware (SeaBIOS on q35) leaves the local APIC's LINT0 in virtual-wire
//! mode, passing the 8259 PIC's interrupts through with the vectors the firmware gave them
//! (the PIT's timer on vector 8, the double-fault vector). [`Interrupts::init`] masks LINT0;
//! the I/O APIC's pins carry every line the kernel uses.
//!
//! **Timer.** TSC-deadline mode where the CPU has it (KVM's `-cpu host`), else one-shot mode
//! with divide-by-16 (QEMU's default CPU under TCG), its rate measured against the TSC: the
//! counter starts at [`Interrupts::init`] and is read at the first sleep, so the measurement
//! costs no boot time.
//!
//! **Addresses.** The local APIC's base comes from `IA32_APIC_BASE` (xAPIC mode, as a PVH
//! boot leaves it); the I/O APICs sit where QEMU's microvm puts them: GSIs 0-23 on the one
//! at 0xfec0_0000, 24 and up (its `ioapic2`) on the one at 0xfec1_0000.

use core::arch::asm;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::model_specific::Msr;

use super::paging;
use super::rdtsc;

/// The local APIC timer's vector.
pub const TIMER_VECTOR: u8 = 0x20;
/// The vector every edge-triggered device line is routed to: the handler only wakes the
/// CPU, so one does.
pub const DEVICE_VECTOR: u8 = 0x30;
/// The vector of level-triggered device lines (see the module docs).
pub const LEVEL_VECTOR: u8 = 0x31;
/// The local APIC's spurious-interrupt vector (no end-of-interrupt for it).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// Address of the local APIC's end-of-interrupt register, for the interrupt stub; zero until
/// [`Interrupts::init`].
pub static EOI_REGISTER: AtomicU64 = AtomicU64::new(0);

const IA32_APIC_BASE: u32 = 0x1b;
const IA32_TSC_DEADLINE: u32 = 0x6e0;
const APIC_BASE_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Local APIC register offsets.
mod reg {
    pub const ID: usize = 0x20;
    pub const TASK_PRIORITY: usize = 0x80;
    pub const EOI: usize = 0xb0;
    pub const SPURIOUS: usize = 0xf0;
    pub const LVT_TIMER: usize = 0x320;
    pub const LVT_LINT0: usize = 0x350;
    pub const INITIAL_COUNT: usize = 0x380;
    pub const CURRENT_COUNT: usize = 0x390;
    pub const DIVIDE: usize = 0x3e0;
}

const SPURIOUS_APIC_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_TSC_DEADLINE: u32 = 0b10 << 17;
/// Redirection entry: level-triggered (else edge).
const REDIRECTION_LEVEL: u32 = 1 << 15;
const DIVIDE_BY_16: u32 = 0b0011;

/// The first I/O APIC, GSIs 0-23.
const IOAPIC0: u64 = 0xfec0_0000;
/// microvm's second I/O APIC, GSIs from 24.
const IOAPIC1: u64 = 0xfec1_0000;
const IOAPIC1_FIRST_GSI: u32 = 24;
const IOAPIC_VERSION: u32 = 1;
const IOAPIC_REDIRECTION: u32 = 0x10;

/// Least time between starting the one-shot counter and reading it back, in microseconds:
/// long enough that a vCPU preempted between the two reads skews the rate by a few percent
/// at most.
const CALIBRATION_US: u64 = 1000;

/// A deadline nearer than this, in microseconds, is spun out rather than slept for: an
/// interrupt round trip takes longer, and a one-shot count measured a little fast wakes
/// the CPU just short of its deadline.
const SPIN_BELOW_US: u64 = 50;

/// How a device signals on its interrupt line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// An event is a rising edge (virtio-mmio, ISA devices).
    Edge,
    /// The line is up while an event waits (PCI INTx, possibly shared).
    Level,
}

/// Why interrupts cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A register window could not be mapped.
    Map(u64),
    /// The local APIC is disabled in `IA32_APIC_BASE`.
    ApicDisabled,
    /// No I/O APIC pin for this GSI.
    NoPin(u32),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Map(addr) => write!(f, "cannot map the APIC registers at {addr:#x}"),
            Self::ApicDisabled => f.write_str("the local APIC is disabled"),
            Self::NoPin(gsi) => write!(f, "no I/O APIC pin for GSI {gsi}"),
        }
    }
}

enum Timer {
    /// `IA32_TSC_DEADLINE` takes the TSC value to fire at.
    TscDeadline,
    /// One-shot counts; `start` is the TSC when the free-running measurement count began,
    /// `per_tsc` the counts per TSC tick (32.32 fixed point) once measured.
    OneShot { start: u64, per_tsc: Option<u64> },
}

/// The local APIC and the routed lines.
pub struct Interrupts {
    lapic: NonNull<u32>,
    apic_id: u32,
    timer: Timer,
    tsc_khz: u64,
}

impl Interrupts {
    /// Enables the local APIC (all vectors accepted) with its timer stopped. `tsc_khz` is
    /// the TSC frequency, to measure the timer against.
    pub fn init(tsc_khz: u64) -> Result<Self, Error> {
        // SAFETY: IA32_APIC_BASE exists on every x86-64 CPU; reading it has no side effects.
        let base = unsafe { Msr::new(IA32_APIC_BASE).read() };
        if base & (1 << 11) == 0 {
            return Err(Error::ApicDisabled);
        }
        let phys = base & APIC_BASE_MASK;
        let lapic = paging::map_mmio(phys, 4096)
            .map_err(|_| Error::Map(phys))?
            .cast::<u32>();
        let tsc_deadline = core::arch::x86_64::__cpuid(1).ecx & (1 << 24) != 0;
        let mut me = Self {
            lapic,
            apic_id: 0,
            timer: Timer::TscDeadline,
            tsc_khz: tsc_khz.max(1),
        };
        me.apic_id = me.read(reg::ID) >> 24;
        EOI_REGISTER.store(phys + reg::EOI as u64, Ordering::Relaxed);
        me.write(reg::TASK_PRIORITY, 0);
        me.write(reg::LVT_LINT0, LVT_MASKED);
        me.write(
            reg::SPURIOUS,
            SPURIOUS_APIC_ENABLE | u32::from(SPURIOUS_VECTOR),
        );
        if tsc_deadline {
            me.write(reg::LVT_TIMER, LVT_TSC_DEADLINE | u32::from(TIMER_VECTOR));
        } else {
            me.write(reg::DIVIDE, DIVIDE_BY_16);
            // Masked and free-running until the first sleep measures it.
            me.write(reg::LVT_TIMER, LVT_MASKED | u32::from(TIMER_VECTOR));
            me.write(reg::INITIAL_COUNT, u32::MAX);
            me.timer = Timer::OneShot {
                start: rdtsc(),
                per_tsc: None,
            };
        }
        Ok(me)
    }

    /// Which timer mode is in use, for the boot log.
    pub fn timer_mode(&self) -> &'static str {
        match self.timer {
            Timer::TscDeadline => "tsc-deadline",
            Timer::OneShot { .. } => "one-shot",
        }
    }

    /// Routes `gsi` to this CPU, active high, triggered as `trigger` says.
    pub fn route(&self, gsi: u32, trigger: Trigger) -> Result<(), Error> {
        let (base, pin) = if gsi < IOAPIC1_FIRST_GSI {
            (IOAPIC0, gsi)
        } else {
            (IOAPIC1, gsi - IOAPIC1_FIRST_GSI)
        };
        let regs = paging::map_mmio(base, 4096)
            .map_err(|_| Error::Map(base))?
            .cast::<u32>();
        let ioapic = IoApic(regs);
        let pins = ((ioapic.read(IOAPIC_VERSION) >> 16) & 0xff) + 1;
        if pin >= pins {
            return Err(Error::NoPin(gsi));
        }
        let entry = IOAPIC_REDIRECTION + 2 * pin;
        ioapic.write(entry + 1, self.apic_id << 24);
        // Fixed delivery, physical destination, active high, unmasked.
        ioapic.write(
            entry,
            match trigger {
                Trigger::Edge => u32::from(DEVICE_VECTOR),
                Trigger::Level => REDIRECTION_LEVEL | u32::from(LEVEL_VECTOR),
            },
        );
        Ok(())
    }

    /// Halts until an interrupt: a routed line, or the timer when `deadline_tsc` is given
    /// (a TSC value; one in the past fires at once, one closer than `SPIN_BELOW_US` is
    /// spun out). Returns with interrupts disabled again.
    pub fn sleep(&mut self, deadline_tsc: Option<u64>) {
        if let Some(deadline) = deadline_tsc {
            let spin_below = self.tsc_khz * SPIN_BELOW_US / 1000;
            if deadline.saturating_sub(rdtsc()) < spin_below {
                while rdtsc() < deadline {
                    core::hint::spin_loop();
                }
                return;
            }
            self.arm(deadline);
        }
        // SAFETY: every vector an enabled interrupt can use has a handler (see `idt`), which
        // returns here with IF clear; `sti` delays interrupts by one instruction, so one that
        // is already pending wakes the `hlt` instead of being taken before it.
        unsafe { asm!("sti", "hlt", options(nomem, nostack)) };
        if deadline_tsc.is_some() {
            self.disarm();
        }
    }

    fn arm(&mut self, deadline: u64) {
        match self.timer {
            Timer::TscDeadline => {
                // SAFETY: the CPU has TSC-deadline mode (CPUID checked in `init`) and the
                // timer's LVT entry selects it; the write only schedules the timer interrupt.
                unsafe { Msr::new(IA32_TSC_DEADLINE).write(deadline.max(1)) };
            }
            Timer::OneShot { .. } => {
                let per_tsc = self.one_shot_rate();
                let ticks = deadline.saturating_sub(rdtsc());
                let counts = (u128::from(ticks) * u128::from(per_tsc)) >> 32;
                let counts = u32::try_from(counts).unwrap_or(u32::MAX).max(1);
                self.write(reg::INITIAL_COUNT, counts);
            }
        }
    }

    fn disarm(&mut self) {
        match self.timer {
            Timer::TscDeadline => {
                // SAFETY: as in `arm`; zero disarms the deadline.
                unsafe { Msr::new(IA32_TSC_DEADLINE).write(0) };
            }
            Timer::OneShot { .. } => self.write(reg::INITIAL_COUNT, 0),
        }
    }

    /// Timer counts per TSC tick (32.32), measuring them on the first call.
    fn one_shot_rate(&mut self) -> u64 {
        let Timer::OneShot { start, per_tsc } = self.timer else {
            return 0;
        };
        if let Some(rate) = per_tsc {
            return rate;
        }
        let least = self.tsc_khz * CALIBRATION_US / 1000;
        let mut start = start;
        if self.read(reg::CURRENT_COUNT) == 0 {
            // The measurement count ran out (the first sleep came more than a minute after
            // boot): start another.
            self.write(reg::INITIAL_COUNT, u32::MAX);
            start = rdtsc();
        }
        while rdtsc().wrapping_sub(start) < least {
            core::hint::spin_loop();
        }
        let (count, now) = (self.read(reg::CURRENT_COUNT), rdtsc());
        let counted = u128::from(u32::MAX - count);
        let ticks = u128::from(now.wrapping_sub(start).max(1));
        let rate = u64::try_from((counted << 32) / ticks).unwrap_or(u64::MAX);
        log::debug!(
            "APIC timer: {} counts per ms (divide by 16)",
            (u128::from(rate) * u128::from(self.tsc_khz)) >> 32
        );
        self.write(reg::INITIAL_COUNT, 0);
        self.write(reg::LVT_TIMER, u32::from(TIMER_VECTOR));
        self.timer = Timer::OneShot {
            start,
            per_tsc: Some(rate),
        };
        rate
    }

    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `lapic` maps the local APIC's 4 KiB register page (uncached) and `offset`
        // is one of its 16-byte aligned registers.
        unsafe {
            self.lapic
                .as_ptr()
                .wrapping_byte_add(offset)
                .read_volatile()
        }
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            self.lapic
                .as_ptr()
                .wrapping_byte_add(offset)
                .write_volatile(value)
        }
    }
}

/// An I/O APIC's index/data register pair.
struct IoApic(NonNull<u32>);

impl IoApic {
    fn read(&self, index: u32) -> u32 {
        // SAFETY: the pointer maps the I/O APIC's register page (uncached): the index
        // register at 0, the data window at 0x10.
        unsafe { self.0.write_volatile(index) };
        // SAFETY: as above.
        unsafe { self.0.as_ptr().wrapping_byte_add(0x10).read_volatile() }
    }

    fn write(&self, index: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe { self.0.write_volatile(index) };
        // SAFETY: as in `read`.
        unsafe {
            self.0
                .as_ptr()
                .wrapping_byte_add(0x10)
                .write_volatile(value)
        };
    }
}
