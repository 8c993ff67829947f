//! Whether a model's weights fit the memory the browser reports, and how
//! many of its members do. Browsers report memory coarsely
//! (`navigator.deviceMemory`: 0.25 to 8 GB) and some not at all; a model
//! that passes here can still be refused by a failed allocation, which
//! ends in the same offer.

/// Chromium's peak while the page loads a model, as a multiple of its f32
/// weights: what `tools/bench/browser-bench --memory` measures above the
/// browser's own baseline on a first visit, which also keeps the offline
/// copy (1.11 for `.pth` members in one worker), rounded up. (A private
/// window keeps that copy in memory too: 2.09 there.)
pub const PEAK_PER_WEIGHT_BYTE: f64 = 1.2;
/// What each member worker adds whatever its members: its own wasm
/// instance, JavaScript heap and allocator slack (the same benchmark's
/// three-worker peak less its one-worker peak, per extra worker: 65 to
/// 140 MB), rounded up.
pub const MEMBER_WORKER_BYTES: f64 = 160.0 * 1024.0 * 1024.0;
/// The share of the device's memory a page can count on: the rest goes to
/// the system, the browser itself and other tabs.
const PAGE_SHARE: f64 = 0.5;

/// A model that does not fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shortfall {
    /// Bytes the whole ensemble needs.
    pub needed: u64,
    /// Bytes a page can count on.
    pub budget: u64,
    /// Members that fit the budget, as many workers as members (0 when
    /// not even one does).
    pub fitting: usize,
    /// Whether every member fits in one worker.
    pub one_worker_fits: bool,
}

/// Bytes `members` members of `member_f32_bytes` each take, spread over
/// `workers` member workers (1: all in the model worker).
fn needed(member_f32_bytes: u64, members: usize, workers: usize) -> f64 {
    let member_workers = if workers > 1 { workers.min(members) } else { 0 };
    member_f32_bytes as f64 * PEAK_PER_WEIGHT_BYTE * members as f64 + member_workers as f64 * MEMBER_WORKER_BYTES
}

/// Checks `members` members of `member_f32_bytes` each, in `workers`
/// workers, against a device reporting `memory_gb`: `None` when they fit.
pub fn shortfall(member_f32_bytes: u64, members: usize, workers: usize, memory_gb: f64) -> Option<Shortfall> {
    let budget = memory_gb * f64::from(1u32 << 30) * PAGE_SHARE;
    let all = needed(member_f32_bytes, members, workers);
    (all > budget).then(|| Shortfall {
        needed: all as u64,
        budget: budget as u64,
        fitting: (1..members)
            .rev()
            .find(|&m| needed(member_f32_bytes, m, workers) <= budget)
            .unwrap_or(0),
        one_worker_fits: workers > 1 && needed(member_f32_bytes, members, 1) <= budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONVNEXT_BASE: u64 = 350_000_000;

    #[test]
    fn three_convnext_base_members_fit_4_gb_but_not_2() {
        assert_eq!(shortfall(CONVNEXT_BASE, 3, 3, 4.0), None);
        let short = shortfall(CONVNEXT_BASE, 3, 3, 2.0).unwrap();
        assert_eq!(short.budget, 1 << 30);
        assert!(short.needed > short.budget);
        assert_eq!(short.fitting, 1);
        assert!(!short.one_worker_fits);
        assert_eq!(shortfall(CONVNEXT_BASE, 3, 1, 2.0).unwrap().fitting, 2);
    }

    #[test]
    fn one_worker_is_offered_only_where_it_fits() {
        // Weights that fit with the member workers' overhead left out only.
        let member = 200 * 1024 * 1024;
        let short = shortfall(member, 3, 3, 2.0).unwrap();
        assert!(short.one_worker_fits);
        assert_eq!(short.fitting, 2);
        assert_eq!(shortfall(member, 3, 1, 2.0), None);
    }

    #[test]
    fn none_fit_the_smallest_reported_memory() {
        let short = shortfall(CONVNEXT_BASE, 3, 3, 0.25).unwrap();
        assert_eq!(short.fitting, 0);
        assert!(!short.one_worker_fits);
    }
}
