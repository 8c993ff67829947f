//! Generated weights in the real layout, for benchmarks and tests.

use super::ArchitectureConfig;
use crate::weights::{StateDict, StoredDType, TensorF32};

/// Deterministic weights for `config` with the scales the reference
/// generator uses, so activations stay in a realistic range: what
/// `chexlens bench` and tests run when no checkpoint is needed.
pub fn generated(config: &ArchitectureConfig, seed: u64) -> StateDict {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    let tensors = config
        .expected_shapes()
        .into_iter()
        .map(|(name, shape)| {
            let numel: usize = shape.iter().product();
            let fan_in: usize = shape.iter().skip(1).product::<usize>().max(1);
            let data: Vec<f32> = if name.ends_with("gamma") {
                (0..numel).map(|_| 0.5 + 0.25 * uniform()).collect()
            } else if shape.len() == 1 && name.ends_with("weight") {
                (0..numel).map(|_| 1.0 + 0.2 * uniform()).collect()
            } else if shape.len() == 1 {
                (0..numel).map(|_| 0.05 * uniform()).collect()
            } else {
                let bound = (3.0 / fan_in as f32).sqrt();
                (0..numel).map(|_| bound * uniform()).collect()
            };
            (
                name,
                TensorF32 {
                    shape,
                    data,
                    stored_as: StoredDType::F32,
                },
            )
        })
        .collect();
    StateDict {
        source: format!("generated (seed {seed})"),
        tensors,
    }
}
