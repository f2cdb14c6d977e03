//! The stable-Rust stand-in for libFuzzer, used by `cargo xtask fuzz` where
//! no nightly toolchain (or no cargo-fuzz) is available: it replays the
//! corpus, then runs a fixed number of inputs made by mutating corpus files
//! with a seeded RNG (bit flips, byte insertions and deletions, truncation,
//! chunk duplication, "interesting" bytes), plus pure random inputs. No
//! coverage feedback, so it finds far less than libFuzzer; it exists so the
//! same entry points are exercised everywhere.

use std::path::Path;

/// xorshift64*: deterministic for a given seed, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

const INTERESTING: &[u8] = &[
    0x00, 0xff, 0x7f, 0x80, 0xc0, 0xc1, 0xc2, 0xc3, 0xd4, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x90,
    0x91, 0x80, 0x81, b'"', b'{', b'}', b'[', b']', b'|', b'$', b'\n', b'\\', b'=',
];

/// One mutated copy of `input`.
pub fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(out.len() + 1);
                out.insert(i, rng.next_u64() as u8);
            }
            2 if !out.is_empty() => {
                let i = rng.below(out.len());
                out.remove(i);
            }
            3 => {
                let n = rng.below(out.len() + 1);
                out.truncate(n);
            }
            4 if !out.is_empty() => {
                let a = rng.below(out.len());
                let b = (a + rng.below(64)).min(out.len());
                let chunk = out[a..b].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, chunk);
            }
            5 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            _ => {
                let n = rng.below(32);
                out.extend((0..n).map(|_| rng.next_u64() as u8));
            }
        }
    }
    out
}

/// Replays `corpus` through `target`, then `runs` generated inputs.
/// Returns how many inputs ran.
pub fn run(target: fn(&[u8]), corpus: &Path, runs: usize, seed: u64) -> usize {
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(corpus)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    for s in &seeds {
        target(s);
    }
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    let mut rng = Rng::new(seed);
    for i in 0..runs {
        let input = if i % 10 == 0 {
            (0..rng.below(256)).map(|_| rng.next_u64() as u8).collect()
        } else {
            let base = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, base)
        };
        target(&input);
    }
    seeds.len() + runs
}
