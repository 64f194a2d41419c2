//! The router's random number sequence.
//!
//! Every element that needs randomness draws from one sequence per router, as Click's
//! elements all draw from `click_random()`. At user level that is the C library's
//! `random()`: the additive feedback generator of degree 31 that glibc uses by default
//! (`TYPE_3`). [`ClickRandom`] is that generator, so a configuration that fixes the seed
//! (`RandomSeed(1)`) draws the same numbers under sluice as under Click on Linux, and
//! random addresses, ports and switch outputs come out the same.

/// Largest value [`ClickRandom::draw`] returns (`CLICK_RAND_MAX`).
pub const RAND_MAX: u32 = 0x7FFF_FFFF;

/// A seed from a nanosecond clock reading, for a sequence that differs run to run (Click
/// seeds every new router this way unless `RandomSeed` fixes the seed).
pub fn clock_seed(now_ns: u64) -> u32 {
    (now_ns ^ (now_ns >> 32)) as u32
}

const DEGREE: usize = 31;
const SEPARATION: usize = 3;

/// glibc's `random()` generator (`TYPE_3`: `x[i] = x[i-3] + x[i-31]`, output bits 31..1).
#[derive(Clone, Debug)]
pub struct ClickRandom {
    state: [u32; DEGREE],
    front: usize,
    rear: usize,
}

impl ClickRandom {
    /// The generator after `srandom(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut r = ClickRandom {
            state: [0; DEGREE],
            front: SEPARATION,
            rear: 0,
        };
        r.seed(seed);
        r
    }

    /// Restarts the sequence, as `srandom(seed)`.
    pub fn seed(&mut self, seed: u32) {
        // Seed 0 would give an all-zero state; the C library uses 1 instead.
        let mut word = i64::from(if seed == 0 { 1 } else { seed } as i32);
        self.state[0] = word as u32;
        for i in 1..DEGREE {
            // 16807 * word mod (2^31 - 1), by Schrage's method, without overflow.
            let hi = word / 127_773;
            let lo = word % 127_773;
            word = 16_807 * lo - 2_836 * hi;
            if word < 0 {
                word += 2_147_483_647;
            }
            self.state[i] = word as u32;
        }
        self.front = SEPARATION;
        self.rear = 0;
        for _ in 0..DEGREE * 10 {
            self.draw();
        }
    }

    /// The next number, 0 to [`RAND_MAX`] inclusive (`random()`).
    #[inline]
    pub fn draw(&mut self) -> u32 {
        let v = self.state[self.front].wrapping_add(self.state[self.rear]);
        self.state[self.front] = v;
        self.front += 1;
        if self.front == DEGREE {
            self.front = 0;
        }
        self.rear += 1;
        if self.rear == DEGREE {
            self.rear = 0;
        }
        v >> 1
    }

    /// A number from `low` to `high` inclusive, drawn as Click's `click_random(low, high)`
    /// draws it (so the same seed picks the same values); `low` when `low > high`.
    pub fn range(&mut self, low: u32, high: u32) -> u32 {
        if low > high {
            return low;
        }
        let span = high - low;
        if span > RAND_MAX {
            loop {
                let r = (self.draw() << 17) ^ (self.draw() >> 14);
                if r <= span {
                    return r + low;
                }
            }
        } else if span == 1 {
            low + ((self.draw() >> 14) & 1)
        } else {
            let count = (RAND_MAX + 1) / (span + 1);
            let max = count * (span + 1);
            loop {
                let r = self.draw();
                if r < max {
                    return r / count + low;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_c_library_sequence() {
        // glibc: srandom(1); random() x 5.
        let mut r = ClickRandom::new(1);
        let got: [u32; 5] = core::array::from_fn(|_| r.draw());
        assert_eq!(
            got,
            [1804289383, 846930886, 1681692777, 1714636915, 1957747793]
        );
        // Seed 0 is seed 1, and reseeding restarts.
        let mut z = ClickRandom::new(0);
        assert_eq!(z.draw(), 1804289383);
        z.seed(1);
        assert_eq!(z.draw(), 1804289383);
    }

    #[test]
    fn other_seeds_match_too() {
        // glibc: srandom(42): 71876166, 708592740, 1483128881.
        let mut r = ClickRandom::new(42);
        assert_eq!(
            [r.draw(), r.draw(), r.draw()],
            [71876166, 708592740, 1483128881]
        );
        // A seed with the top bit set is negative to the C library.
        let mut r = ClickRandom::new(0x8000_0001);
        assert_eq!(
            [r.draw(), r.draw(), r.draw()],
            [1081815585, 5219348, 1080917272]
        );
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut r = ClickRandom::new(7);
        for _ in 0..10_000 {
            let x = r.range(10, 20);
            assert!((10..=20).contains(&x));
            assert!(r.range(0, 1) <= 1);
            let _ = r.range(0, u32::MAX);
        }
        assert_eq!(r.range(5, 3), 5);
        assert_eq!(r.range(4, 4), 4);
    }
}
