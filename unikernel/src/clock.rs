//! A monotonic clock from the TSC.
//!
//! Time is the TSC count since kernel entry converted with the TSC frequency, which [`init`]
//! finds once at boot, from the first of these sources that answers:
//!
//! 1. `tsc_khz=<kHz>` on the command line. The launcher knows the host's TSC frequency and the
//!    guest's TSC ticks at that rate, under KVM (unless TSC scaling is configured) and under TCG
//!    alike (TCG's RDTSC returns the host's TSC, offset to start at 0 when the VM starts). This
//!    costs nothing at boot and is as accurate as the launcher's number. `clock=pit` on the
//!    command line skips it, to compare with the PIT.
//! 2. CPUID leaf 0x15 (TSC/crystal ratio and crystal frequency), then leaf 0x16 (base
//!    frequency in MHz). Recent Intel CPUs under KVM expose them; QEMU's TCG CPU models do not.
//! 3. CPUID leaf 0x4000_0010 (TSC frequency in kHz), offered by VMware, and by QEMU/KVM with
//!    `-cpu ...,+invtsc,vmware-cpuid-freq=on`.
//! 4. The i8254 PIT, when the machine has one (microvm with `pit=on`): channel 0 counts down
//!    at 1.193182 MHz; the TSC is read across [`PIT_CALIBRATION`] of PIT ticks. It adds that
//!    much to boot time. The microvm options sluice uses (`pit=off`, no HPET, no ACPI PM timer)
//!    leave the guest no reference timer at all, which is why the launcher passes `tsc_khz=`.
//! 5. Nothing answered: a warning and an assumed [`ASSUMED_TSC_KHZ`], so the kernel still runs.
//!
//! Conversions use a 32.32 fixed-point multiplier (one multiply and a shift, no division).

use core::time::Duration;

use spin::Once;
use x86_64::instructions::port::Port;

use crate::arch::{self, rdtsc};
use crate::pvh::Cmdline;

/// How long the PIT calibration measures.
pub const PIT_CALIBRATION: Duration = Duration::from_millis(10);

/// TSC frequency used when no source answers.
pub const ASSUMED_TSC_KHZ: u64 = 2_000_000;

/// Where the TSC frequency came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `tsc_khz=` on the command line.
    Cmdline,
    /// CPUID leaf 0x15.
    CpuidTscLeaf,
    /// CPUID leaf 0x16.
    CpuidFrequencyLeaf,
    /// CPUID leaf 0x4000_0010.
    Hypervisor,
    /// Measured against the PIT.
    Pit,
    /// Nothing answered; [`ASSUMED_TSC_KHZ`].
    Assumed,
}

impl Source {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Cmdline => "cmdline",
            Self::CpuidTscLeaf => "cpuid-0x15",
            Self::CpuidFrequencyLeaf => "cpuid-0x16",
            Self::Hypervisor => "cpuid-0x40000010",
            Self::Pit => "pit",
            Self::Assumed => "assumed",
        }
    }
}

/// The result of [`init`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    pub tsc_khz: u64,
    pub source: Source,
}

struct Clock {
    calibration: Calibration,
    /// Nanoseconds per tick, 32.32 fixed point.
    ns_per_tick: u64,
    /// TSC at kernel entry: time zero.
    epoch: u64,
}

impl Clock {
    fn new(calibration: Calibration, epoch: u64) -> Self {
        let khz = u128::from(calibration.tsc_khz.max(1));
        let ns_per_tick = ((1_000_000u128 << 32) / khz) as u64;
        Self {
            calibration,
            ns_per_tick,
            epoch,
        }
    }

    fn ticks_to_ns(&self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.ns_per_tick)) >> 32) as u64
    }

    fn duration_to_ticks(&self, duration: Duration) -> u64 {
        let ticks = duration.as_nanos() * u128::from(self.calibration.tsc_khz) / 1_000_000;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }
}

static CLOCK: Once<Clock> = Once::new();

/// Finds the TSC frequency (see the module docs) and starts the clock. Later calls return the
/// first result.
pub fn init(cmdline: &Cmdline<'_>) -> Calibration {
    CLOCK
        .call_once(|| Clock::new(calibrate(cmdline), arch::boot_entry_tsc()))
        .calibration
}

fn calibrate(cmdline: &Cmdline<'_>) -> Calibration {
    let force_pit = cmdline.get("clock") == Some("pit");
    let found = |tsc_khz: Option<u64>, source| {
        tsc_khz
            .filter(|&khz| khz > 0)
            .map(|tsc_khz| Calibration { tsc_khz, source })
    };
    let from_cmdline = || found(cmdline.get_u64("tsc_khz"), Source::Cmdline);
    let from_pit = || found(pit::measure_tsc_khz(PIT_CALIBRATION), Source::Pit);
    let chosen = if force_pit {
        from_pit()
    } else {
        from_cmdline()
            .or_else(|| found(cpuid::tsc_leaf_khz(), Source::CpuidTscLeaf))
            .or_else(|| found(cpuid::frequency_leaf_khz(), Source::CpuidFrequencyLeaf))
            .or_else(|| found(cpuid::hypervisor_leaf_khz(), Source::Hypervisor))
            .or_else(from_pit)
    };
    chosen.unwrap_or_else(|| {
        log::warn!(
            "no TSC frequency source (pass tsc_khz= on the command line); assuming {} kHz",
            ASSUMED_TSC_KHZ
        );
        Calibration {
            tsc_khz: ASSUMED_TSC_KHZ,
            source: Source::Assumed,
        }
    })
}

/// The TSC frequency and where it came from, once calibrated.
pub fn calibration() -> Option<Calibration> {
    CLOCK.get().map(|clock| clock.calibration)
}

/// Time since kernel entry, once calibrated.
pub fn uptime() -> Option<Duration> {
    CLOCK
        .get()
        .map(|clock| Duration::from_nanos(clock.ticks_to_ns(rdtsc() - clock.epoch)))
}

/// The TSC value at `ns` nanoseconds after kernel entry (the clock's time zero), once
/// calibrated.
pub fn tsc_at(ns: u64) -> Option<u64> {
    CLOCK.get().map(|clock| {
        clock
            .epoch
            .saturating_add(clock.duration_to_ticks(Duration::from_nanos(ns)))
    })
}

/// Converts a duration to TSC ticks (zero before calibration).
pub fn duration_to_ticks(duration: Duration) -> u64 {
    CLOCK
        .get()
        .map_or(0, |clock| clock.duration_to_ticks(duration))
}

/// Converts a TSC difference to a duration (zero before calibration).
pub fn ticks_to_duration(ticks: u64) -> Duration {
    CLOCK.get().map_or(Duration::ZERO, |clock| {
        Duration::from_nanos(clock.ticks_to_ns(ticks))
    })
}

/// A point in time, as a raw TSC value. Taking one is a single RDTSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    pub fn now() -> Self {
        Self(rdtsc())
    }

    /// The raw TSC value.
    pub const fn ticks(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self` (zero if `earlier` is later).
    pub fn duration_since(self, earlier: Instant) -> Duration {
        ticks_to_duration(self.0.saturating_sub(earlier.0))
    }

    pub fn elapsed(self) -> Duration {
        Self::now().duration_since(self)
    }

    /// Time since kernel entry.
    pub fn since_boot(self) -> Duration {
        self.duration_since(Instant(arch::boot_entry_tsc()))
    }
}

/// Spins for `duration` (returns at once before calibration).
pub fn busy_wait(duration: Duration) {
    let Some(clock) = CLOCK.get() else { return };
    let start = rdtsc();
    let ticks = clock.duration_to_ticks(duration);
    while rdtsc().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

mod cpuid {
    use core::arch::x86_64::{__cpuid, CpuidResult};

    const HYPERVISOR_PRESENT: u32 = 1 << 31;
    const HYPERVISOR_BASE: u32 = 0x4000_0000;
    const HYPERVISOR_TSC_LEAF: u32 = 0x4000_0010;

    fn cpuid(leaf: u32) -> CpuidResult {
        // SAFETY: CPUID exists on every x86-64 CPU and only reads identification registers.
        #[allow(unused_unsafe)]
        unsafe {
            __cpuid(leaf)
        }
    }

    fn max_basic_leaf() -> u32 {
        cpuid(0).eax
    }

    /// Leaf 0x15: TSC = crystal * EBX / EAX, when the crystal frequency (ECX) is reported.
    pub fn tsc_leaf_khz() -> Option<u64> {
        if max_basic_leaf() < 0x15 {
            return None;
        }
        let r = cpuid(0x15);
        (r.eax != 0 && r.ebx != 0 && r.ecx != 0)
            .then(|| u64::from(r.ecx) * u64::from(r.ebx) / u64::from(r.eax) / 1000)
    }

    /// Leaf 0x16: processor base frequency in MHz.
    pub fn frequency_leaf_khz() -> Option<u64> {
        if max_basic_leaf() < 0x16 {
            return None;
        }
        let mhz = cpuid(0x16).eax & 0xffff;
        (mhz != 0).then(|| u64::from(mhz) * 1000)
    }

    /// Leaf 0x4000_0010: TSC frequency in kHz, under a hypervisor that offers it.
    pub fn hypervisor_leaf_khz() -> Option<u64> {
        if cpuid(1).ecx & HYPERVISOR_PRESENT == 0
            || cpuid(HYPERVISOR_BASE).eax < HYPERVISOR_TSC_LEAF
        {
            return None;
        }
        let khz = cpuid(HYPERVISOR_TSC_LEAF).eax;
        (khz != 0).then(|| u64::from(khz))
    }
}

mod pit {
    use super::*;

    const FREQUENCY_HZ: u64 = 1_193_182;
    const CHANNEL0: u16 = 0x40;
    const COMMAND: u16 = 0x43;
    /// Channel 0, low then high byte, mode 2 (rate generator), binary.
    const CHANNEL0_RATE_GENERATOR: u8 = 0x34;
    /// Channel 0, low then high byte, mode 0; with no count written the counter stops.
    const CHANNEL0_STOP: u8 = 0x30;
    /// Latch channel 0's count.
    const CHANNEL0_LATCH: u8 = 0x00;
    /// Reads of a missing PIT all return 0xffff; a working one changes within a few reads.
    const PROBE_READS: usize = 1000;

    fn command(value: u8) {
        // SAFETY: the PIT's command port (or nothing); writing it touches no memory.
        unsafe { Port::new(COMMAND).write(value) }
    }

    fn write_channel0(value: u8) {
        // SAFETY: the PIT's channel 0 data port (or nothing); writing it touches no memory.
        unsafe { Port::new(CHANNEL0).write(value) }
    }

    fn read_channel0() -> u8 {
        // SAFETY: as in `write_channel0`; reading returns the latched count.
        unsafe { Port::new(CHANNEL0).read() }
    }

    fn read_count() -> u16 {
        command(CHANNEL0_LATCH);
        let low = read_channel0();
        let high = read_channel0();
        u16::from_le_bytes([low, high])
    }

    /// A count and the TSC in the middle of reading it, and how long the read took.
    #[derive(Clone, Copy)]
    struct Sample {
        count: u16,
        tsc: u64,
        read_ticks: u64,
    }

    fn sample() -> Sample {
        let before = rdtsc();
        let count = read_count();
        let after = rdtsc();
        Sample {
            count,
            tsc: before + (after - before) / 2,
            read_ticks: after - before,
        }
    }

    /// The quickest of `n` samples: a read the vCPU was not preempted in.
    fn quickest_sample(n: usize) -> Sample {
        let mut best = sample();
        for _ in 1..n {
            let s = sample();
            if s.read_ticks < best.read_ticks {
                best = s;
            }
        }
        best
    }

    /// Measures the TSC frequency against channel 0 over `window`, or `None` without a PIT.
    ///
    /// Each end of the window is a count read bracketed by two RDTSCs; reads that took long
    /// (the vCPU thread was preempted in the middle) are retried, so the result is good to
    /// about one PIT tick (0.84 µs) plus one read over the window.
    pub fn measure_tsc_khz(window: Duration) -> Option<u64> {
        // Reload value 0 means 65536, so differences of counts wrap exactly like u16.
        command(CHANNEL0_RATE_GENERATOR);
        write_channel0(0);
        write_channel0(0);

        let first = read_count();
        if !(0..PROBE_READS).any(|_| read_count() != first) {
            return None;
        }

        let start = quickest_sample(8);
        let window_ticks = (window.as_micros() as u64 * FREQUENCY_HZ / 1_000_000).min(60_000);
        let slow_read = start.read_ticks * 2;
        let mut end = sample();
        let mut retries = 0;
        while u64::from(start.count.wrapping_sub(end.count)) < window_ticks
            || (end.read_ticks > slow_read && retries < 100)
        {
            if u64::from(start.count.wrapping_sub(end.count)) >= window_ticks {
                retries += 1;
            }
            end = sample();
        }
        let elapsed = u64::from(start.count.wrapping_sub(end.count));
        let (start_tsc, end_tsc) = (start.tsc, end.tsc);
        command(CHANNEL0_STOP);
        Some((end_tsc - start_tsc) * FREQUENCY_HZ / (elapsed * 1000))
    }
}
