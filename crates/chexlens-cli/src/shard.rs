//! `--shard I/N`: a deterministic split of a list of images over N runs
//! (a SLURM array or a Kubernetes Indexed Job), by a hash of each path as
//! written, so every run agrees on the split whatever the list's order.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based, below `count`.
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Whether the image at `path` belongs to this shard.
    pub fn holds(&self, path: &str) -> bool {
        fnv1a(path.as_bytes()) % self.count == self.index
    }
}

/// 64-bit FNV-1a: stable across platforms and releases, unlike std's hasher.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a shard; write I/N with 0 <= I < N, as 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u64>().map_err(|_| bad())?,
            n.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_list() {
        let paths: Vec<String> = (0..1000)
            .map(|i| format!("patient{i}/study1/view1_frontal.jpg"))
            .collect();
        let shards: Vec<Shard> = (0..4).map(|i| format!("{i}/4").parse().unwrap()).collect();
        let mut sizes = [0usize; 4];
        for p in &paths {
            let owners: Vec<usize> = (0..4).filter(|&i| shards[i].holds(p)).collect();
            assert_eq!(owners.len(), 1, "{p} belongs to exactly one shard");
            sizes[owners[0]] += 1;
        }
        assert!(sizes.iter().all(|&n| (200..300).contains(&n)), "{sizes:?}");
        // Known FNV-1a 64 values.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert!("4/4".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert_eq!("1/3".parse::<Shard>().unwrap().to_string(), "1/3");
    }
}
