//! Randomised tests that can be replayed: a seed printed by every run, taken from
//! `TROVE_TEST_SEED` when set, and a small deterministic generator driven by it.

use std::hash::BuildHasher as _;

use rand::SeedableRng as _;
use rand::rngs::StdRng;

/// The variable that replays a randomised test with the seed a failed run printed.
pub const SEED_VAR: &str = "TROVE_TEST_SEED";

/// The seed of a randomised test: `TROVE_TEST_SEED` when set, else a fresh one. Printed
/// either way, since a failure is only worth its seed if it can be replayed.
pub fn test_seed(test: &str) -> u64 {
    let seed = seed_or_fresh(std::env::var(SEED_VAR).ok());
    eprintln!("{test}: seed {seed} (re-run with {SEED_VAR}={seed})");
    seed
}

/// The seed `TROVE_TEST_SEED` asks for, or a fresh one when it is unset.
fn seed_or_fresh(asked: Option<String>) -> u64 {
    match asked {
        Some(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{SEED_VAR}={text:?} is not a u64: {e}")),
        // The standard library's hasher keys are random per process: a fresh seed without
        // another dependency.
        None => {
            std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now())
        }
    }
}

/// The generator a seed drives: the same seed, the same sequence.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_asked_for_is_the_seed_used() {
        assert_eq!(seed_or_fresh(Some(" 7311 ".into())), 7311);
        assert_ne!(seed_or_fresh(None), seed_or_fresh(None));
    }

    #[test]
    fn a_seed_replays_its_sequence() {
        use rand::RngCore as _;
        let (mut a, mut b, mut c) = (rng(42), rng(42), rng(43));
        let first: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..8).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(first, (0..8).map(|_| c.next_u64()).collect::<Vec<_>>());
    }
}
