//! The crate's one pseudo-random generator: SplitMix64, small, fast and seedable. The emulator's
//! fault dice, the session's retry jitter, the simulation and the randomised tests all draw from
//! it, so a seed replays a run exactly. Good enough for dice; not for secrets (UniqueIds come from
//! host randomness).

#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }

    /// Uniform in `lo..=hi` (the bounds may come in either order).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let draw = self.next_u64();
        match (hi - lo).checked_add(1) {
            Some(span) => lo + draw % span,
            None => draw,
        }
    }

    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        match hi.checked_sub(lo).and_then(|span| span.checked_add(1)) {
            Some(n) => lo + self.next_u64() % n,
            None => lo,
        }
    }
}
