//! Fitting reference statistics on pooled features, and how far a new
//! image's features lie from them.
//!
//! Per member: the features' mean, and the inverse (precision) of their
//! Ledoit-Wolf shrunk covariance, computed exactly as scikit-learn's
//! `LedoitWolf().fit(X)` does (biased 1/n empirical covariance, shrunk
//! towards `trace / p` times the identity). The reference distances are
//! the reference images' own distances, in-sample: the statistics were fitted
//! on those very images, so their distances run a little shorter than
//! unseen radiographs' would, and the threshold flags slightly more of them
//! than its percentile says.

use crate::error::{ReferenceError, ordinal};
use crate::linalg;
use chexlens_checkpoints::manifest::MAX_MEMBERS;

/// The threshold: the 99th percentile of the reference images' distances.
pub const DEFAULT_PERCENTILE: f64 = 99.0;
/// Features per member at most (convnext_base pools 1024).
pub const MAX_FEATURES: usize = 2048;
/// Reference images at most.
pub const MAX_REFERENCE_IMAGES: usize = 1_000_000;

/// One member's statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberStatistics {
    /// The features' mean, `[C]`.
    pub mean: Vec<f32>,
    /// `[C * C]`, row-major: the inverse of the shrunk covariance.
    pub precision: Vec<f32>,
    /// The Ledoit-Wolf coefficient: 0 keeps the empirical covariance, 1
    /// replaces it by a multiple of the identity.
    pub shrinkage: f64,
    /// The reference images' own distances, ascending.
    pub distances: Vec<f32>,
    /// `numpy.percentile(distances, percentile)`, linear interpolation.
    pub threshold: f32,
}

impl MemberStatistics {
    /// Fits one member's statistics on its pooled features, one `Vec` per
    /// image; `threshold` is the `percentile` of the images' own distances.
    /// Holds the features once more in f64 (images x C x 8 bytes) and a few
    /// C x C matrices; O(images C^2 + C^3).
    pub fn fit(features: &[Vec<f32>], percentile: f64) -> Result<Self, ReferenceError> {
        check_percentile(percentile)?;
        let width = check_features(features)?;
        let n = features.len();
        let mut mean = vec![0.0f64; width];
        for image in features {
            mean.iter_mut().zip(image).for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let centred: Vec<f64> = features
            .iter()
            .flat_map(|image| image.iter().zip(&mean).map(|(&v, m)| f64::from(v) - m))
            .collect();
        let gram = linalg::gram(&centred, width);
        let shrinkage = ledoit_wolf_shrinkage(&centred, &gram, n, width);
        let covariance = shrunk_covariance(&gram, n, width, shrinkage);
        let factor =
            linalg::cholesky(&covariance, width).map_err(|feature| ReferenceError::NotPositiveDefinite { feature })?;
        let inverse = linalg::lower_inverse(&factor, width);
        // (L L^T)^-1 = L^-T L^-1: the Gram matrix of the inverse's rows.
        let precision = linalg::gram(&inverse, width);
        let mut distances: Vec<f64> =
            linalg::whitened_squared_norms(&centred, width, &linalg::transpose(&inverse, width))
                .into_iter()
                .map(f64::sqrt)
                .collect();
        distances.sort_by(f64::total_cmp);
        let threshold = numpy_percentile(&distances, percentile);
        let stats = Self {
            mean: to_f32(&mean),
            precision: to_f32(&precision),
            // Kept as the file keeps it, so that fitted and loaded statistics are equal.
            shrinkage: f64::from(shrinkage as f32),
            distances: to_f32(&distances),
            threshold: threshold as f32,
        };
        let all_finite = [&stats.mean, &stats.precision, &stats.distances]
            .iter()
            .all(|values| values.iter().all(|v| v.is_finite()));
        if !all_finite || !stats.threshold.is_finite() {
            return Err(ReferenceError::OutOfRange);
        }
        if stats.threshold <= 0.0 {
            return Err(ReferenceError::ZeroThreshold { percentile });
        }
        // What a file is checked for on reading, so that a fit is always readable.
        check_values(0, &stats).map_err(|_| ReferenceError::OutOfRange)?;
        Ok(stats)
    }

    /// Features per image, `C`.
    pub fn features(&self) -> usize {
        self.mean.len()
    }

    /// `sqrt((x - mean)^T precision (x - mean))`, accumulated in f64.
    pub fn distance(&self, features: &[f32]) -> Result<f64, ReferenceError> {
        let width = self.features();
        if features.len() != width {
            return Err(ReferenceError::FeatureCount {
                found: features.len(),
                expected: width,
            });
        }
        if features.iter().any(|v| !v.is_finite()) {
            return Err(ReferenceError::NonFiniteInput);
        }
        let centred: Vec<f64> = features
            .iter()
            .zip(&self.mean)
            .map(|(&x, &m)| f64::from(x) - f64::from(m))
            .collect();
        let mut row = vec![0.0; width];
        let mut squared = 0.0;
        // Rows of width C (a fit or a file makes `precision` C x C).
        for (&x, precision_row) in centred.iter().zip(self.precision.chunks_exact(width.max(1))) {
            row.iter_mut().zip(precision_row).for_each(|(r, &p)| *r = f64::from(p));
            squared += x * linalg::dot(&row, &centred);
        }
        // Rounding can take the form of a point at the mean just below 0.
        Ok(squared.max(0.0).sqrt())
    }

    /// The percent (0 to 100) of reference distances at or below `distance`.
    pub fn percentile_of(&self, distance: f64) -> f64 {
        if self.distances.is_empty() {
            return 0.0;
        }
        let at_or_below = self.distances.partition_point(|&d| f64::from(d) <= distance);
        100.0 * at_or_below as f64 / self.distances.len() as f64
    }
}

/// The columns' count of `features` once they are checked: at least two
/// images, each with the same number (1 to [`MAX_FEATURES`]) of finite features.
fn check_features(features: &[Vec<f32>]) -> Result<usize, ReferenceError> {
    if features.len() < 2 {
        return Err(ReferenceError::TooFewImages(features.len()));
    }
    if features.len() > MAX_REFERENCE_IMAGES {
        return Err(ReferenceError::TooManyImages {
            found: features.len(),
            max: MAX_REFERENCE_IMAGES,
        });
    }
    let width = features[0].len();
    if width == 0 {
        return Err(ReferenceError::NoFeatures);
    }
    if width > MAX_FEATURES {
        return Err(ReferenceError::TooManyFeatures {
            found: width,
            max: MAX_FEATURES,
        });
    }
    for (image, values) in features.iter().enumerate() {
        if values.len() != width {
            return Err(ReferenceError::ImageFeatureCount {
                image,
                found: values.len(),
                expected: width,
            });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(ReferenceError::NonFiniteFeature { image });
        }
    }
    Ok(width)
}

fn check_percentile(percentile: f64) -> Result<(), ReferenceError> {
    if percentile > 0.0 && percentile <= 100.0 {
        Ok(())
    } else {
        Err(ReferenceError::Percentile(percentile))
    }
}

/// scikit-learn's `ledoit_wolf_shrinkage(X, assume_centered=True)` for the
/// centred `x` (`n x p`) and its `gram = x^T x`, term for term.
fn ledoit_wolf_shrinkage(x: &[f64], gram: &[f64], n: usize, p: usize) -> f64 {
    // "for only one feature, the result is the same whatever the shrinkage"
    if p == 1 {
        return 0.0;
    }
    let (n_f, p_f) = (n as f64, p as f64);
    let mut emp_cov_trace = vec![0.0; p];
    for row in x.chunks_exact(p) {
        emp_cov_trace.iter_mut().zip(row).for_each(|(t, v)| *t += v * v);
    }
    emp_cov_trace.iter_mut().for_each(|t| *t /= n_f);
    let trace_sum: f64 = emp_cov_trace.iter().sum();
    let mu = trace_sum / p_f;
    // sum((X.T @ X) ** 2) / n^2
    let delta_ = gram.iter().map(|g| g * g).sum::<f64>() / (n_f * n_f);
    // sum(X2.T @ X2) = sum over images of (sum of its squares)^2: O(n p).
    let beta_: f64 = x
        .chunks_exact(p)
        .map(|row| {
            let squares: f64 = row.iter().map(|v| v * v).sum();
            squares * squares
        })
        .sum();
    let beta = 1.0 / (p_f * n_f) * (beta_ / n_f - delta_);
    let delta = (delta_ - 2.0 * mu * trace_sum + p_f * mu * mu) / p_f;
    let beta = beta.min(delta);
    let shrinkage = if beta == 0.0 { 0.0 } else { beta / delta };
    // In exact arithmetic it lies in [0, 1]; only rounding takes it outside.
    shrinkage.clamp(0.0, 1.0)
}

/// `(1 - s) * gram / n + s * mu * I`, with `mu` the empirical covariance's
/// mean diagonal.
fn shrunk_covariance(gram: &[f64], n: usize, p: usize, shrinkage: f64) -> Vec<f64> {
    let mut covariance: Vec<f64> = gram.iter().map(|g| (1.0 - shrinkage) * (g / n as f64)).collect();
    let mu = (0..p).map(|i| gram[i * p + i] / n as f64).sum::<f64>() / p as f64;
    for i in 0..p {
        covariance[i * p + i] += shrinkage * mu;
    }
    covariance
}

/// `numpy.percentile(sorted, q)` with its default linear interpolation,
/// including numpy's form of the interpolation (from the upper end past
/// the midpoint). `sorted` is ascending and not empty.
fn numpy_percentile(sorted: &[f64], q: f64) -> f64 {
    let position = (sorted.len() - 1) as f64 * (q / 100.0);
    let below = position.floor();
    let t = position - below;
    let below = below as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let (a, b) = (sorted[below], sorted[above]);
    let difference = b - a;
    if t >= 0.5 {
        b - difference * (1.0 - t)
    } else {
        a + difference * t
    }
}

fn to_f32(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&v| v as f32).collect()
}

/// Statistics for every member of an ensemble, fitted on the same images.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceStatistics {
    /// The percentile each member's threshold is.
    pub percentile: f64,
    /// The reference images the statistics were fitted on.
    pub images: usize,
    pub members: Vec<MemberStatistics>,
}

impl ReferenceStatistics {
    /// Fits each member; `per_member[m][i]` is member m's pooled features
    /// of image i.
    pub fn fit(per_member: &[Vec<Vec<f32>>], percentile: f64) -> Result<Self, ReferenceError> {
        check_percentile(percentile)?;
        let Some(first) = per_member.first() else {
            return Err(ReferenceError::NoMembers);
        };
        if per_member.len() > MAX_MEMBERS {
            return Err(ReferenceError::TooManyMembers {
                found: per_member.len(),
                max: MAX_MEMBERS,
            });
        }
        let images = first.len();
        if let Some((member, features)) = per_member.iter().enumerate().find(|(_, f)| f.len() != images) {
            return Err(ReferenceError::MemberImageCount {
                member,
                found: features.len(),
                expected: images,
            });
        }
        let members = per_member
            .iter()
            .enumerate()
            .map(|(m, features)| MemberStatistics::fit(features, percentile).map_err(|e| e.in_member(m)))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            percentile,
            images,
            members,
        })
    }

    /// Whether these statistics can serve an ensemble of `members` loaded
    /// members (its first ones, at most as many as the statistics have)
    /// whose pooled features are `features` wide.
    pub fn check_fits(&self, members: usize, features: usize) -> Result<(), ReferenceError> {
        if members > self.members.len() {
            return Err(ReferenceError::MoreMembersThanStatistics {
                found: members,
                available: self.members.len(),
            });
        }
        match self
            .members
            .iter()
            .map(MemberStatistics::features)
            .find(|&f| f != features)
        {
            Some(expected) => Err(ReferenceError::FeatureCount {
                found: features,
                expected,
            }),
            None => Ok(()),
        }
    }

    /// How far an image lies from the reference images: `member_features[m]`
    /// is member m's pooled features, for the first `member_features.len()`
    /// members (an ensemble may load only its first members).
    pub fn assess(&self, member_features: &[Vec<f32>]) -> Result<Typicality, ReferenceError> {
        if member_features.is_empty() {
            return Err(ReferenceError::NoMembers);
        }
        if member_features.len() > self.members.len() {
            return Err(ReferenceError::MoreMembersThanStatistics {
                found: member_features.len(),
                available: self.members.len(),
            });
        }
        let mut typicality = Typicality {
            distances: Vec::with_capacity(member_features.len()),
            thresholds: Vec::with_capacity(member_features.len()),
            percentiles: Vec::with_capacity(member_features.len()),
            ratio: 0.0,
            percentile: self.percentile,
        };
        for (m, (stats, features)) in self.members.iter().zip(member_features).enumerate() {
            let distance = stats.distance(features).map_err(|e| e.in_member(m))?;
            typicality.distances.push(distance);
            typicality.thresholds.push(f64::from(stats.threshold));
            typicality.percentiles.push(stats.percentile_of(distance));
        }
        let ratios: Vec<f64> = typicality
            .distances
            .iter()
            .zip(&typicality.thresholds)
            .map(|(d, t)| d / t)
            .collect();
        typicality.ratio = median(ratios);
        Ok(typicality)
    }
}

/// The middle value, or the mean of the two middle ones; `values` is not empty.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// How far one image's features lie from the reference images', member by member.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Typicality {
    /// Each member's distance.
    pub distances: Vec<f64>,
    /// Each member's threshold.
    pub thresholds: Vec<f64>,
    /// Each member's percent of reference images at or nearer than this one.
    pub percentiles: Vec<f64>,
    /// The median over members of distance / threshold (the mean of the
    /// two middle ones for an even count): above 1, the image is unlike them.
    pub ratio: f64,
    /// The percentile of the reference images' distances the thresholds are.
    pub percentile: f64,
}

impl Typicality {
    pub fn is_unlike(&self) -> bool {
        self.ratio > 1.0
    }

    /// One plain sentence for a user.
    pub fn message(&self) -> String {
        let times = format!("{:.2}x the threshold", self.ratio);
        let beyond_all = !self.percentiles.is_empty() && self.percentiles.iter().all(|&p| p >= 100.0);
        if !self.is_unlike() {
            format!(
                "like the reference radiographs: its features lie within the {} percentile of theirs ({times})",
                ordinal(self.percentile)
            )
        } else if beyond_all {
            format!("unlike the reference radiographs: its features lie beyond every reference radiograph's ({times})")
        } else {
            format!(
                "unlike the reference radiographs: its features lie beyond the {} percentile of theirs ({times})",
                ordinal(self.percentile)
            )
        }
    }
}

/// What a fit guarantees of its values, checked for values read from a file.
/// The precision matrix is checked symmetric with a positive diagonal, not
/// positive definite: that would be a Cholesky factorisation, O(C^3), on every load.
pub(crate) fn check_values(member: usize, stats: &MemberStatistics) -> Result<(), ReferenceError> {
    let d = &stats.distances;
    if d.first().is_some_and(|&first| first < 0.0) || d.windows(2).any(|w| w[1] < w[0]) {
        return Err(ReferenceError::UnorderedDistances(member));
    }
    let (lowest, highest) = (d.first().copied().unwrap_or(0.0), d.last().copied().unwrap_or(0.0));
    // A percentile of the distances lies between the least and the greatest.
    if stats.threshold <= 0.0 || stats.threshold < lowest || stats.threshold > highest {
        return Err(ReferenceError::ThresholdOutsideDistances {
            member,
            threshold: stats.threshold,
            lowest,
            highest,
        });
    }
    if !(0.0..=1.0).contains(&stats.shrinkage) {
        return Err(ReferenceError::Shrinkage {
            member,
            shrinkage: stats.shrinkage as f32,
        });
    }
    let c = stats.features();
    let p = &stats.precision;
    let symmetric = (0..c).all(|a| (0..a).all(|b| p[a * c + b] == p[b * c + a]));
    if !symmetric || (0..c).any(|a| p[a * c + a] <= 0.0) {
        return Err(ReferenceError::Precision(member));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic features: `images x width` values from a hash, with
    /// some features sharing a direction so that they correlate.
    fn features(images: usize, width: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        (0..images)
            .map(|_| {
                let shared = next() * 3.0;
                (0..width)
                    .map(|f| (next() + shared * (f % 3) as f64 + f as f64) as f32)
                    .collect()
            })
            .collect()
    }

    fn typicality(distances: &[f64], thresholds: &[f64], percentiles: &[f64]) -> Typicality {
        let ratios = distances.iter().zip(thresholds).map(|(d, t)| d / t).collect();
        Typicality {
            distances: distances.to_vec(),
            thresholds: thresholds.to_vec(),
            percentiles: percentiles.to_vec(),
            ratio: median(ratios),
            percentile: 99.0,
        }
    }

    #[test]
    fn percentile_interpolates_as_numpy_does() {
        // numpy.percentile([1, 2, 3, 4], q) for q = 0, 50, 99, 100.
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(numpy_percentile(&sorted, 0.0), 1.0);
        assert_eq!(numpy_percentile(&sorted, 50.0), 2.5);
        assert!((numpy_percentile(&sorted, 99.0) - 3.97).abs() < 1e-12);
        assert_eq!(numpy_percentile(&sorted, 100.0), 4.0);
        assert_eq!(numpy_percentile(&[7.0], 99.0), 7.0);
    }

    #[test]
    fn a_fit_refuses_what_it_cannot_fit() {
        let good = features(10, 4, 1);
        let fit = |f: &[Vec<f32>]| MemberStatistics::fit(f, 99.0).unwrap_err();
        assert_eq!(fit(&good[..1]), ReferenceError::TooFewImages(1));
        assert_eq!(fit(&[vec![], vec![]]), ReferenceError::NoFeatures);
        let mut short = good.clone();
        short[3].pop();
        assert_eq!(
            fit(&short),
            ReferenceError::ImageFeatureCount {
                image: 3,
                found: 3,
                expected: 4
            }
        );
        let mut nan = good.clone();
        nan[2][1] = f32::NAN;
        assert_eq!(fit(&nan), ReferenceError::NonFiniteFeature { image: 2 });
        // Features that never vary have no covariance to invert.
        let constant = vec![vec![1.0, 2.0, 3.0]; 5];
        assert!(matches!(fit(&constant), ReferenceError::NotPositiveDefinite { .. }));
        assert!(fit(&constant).to_string().contains("do not vary"));
        for percentile in [0.0, -1.0, 100.5, f64::NAN] {
            assert!(matches!(
                MemberStatistics::fit(&good, percentile),
                Err(ReferenceError::Percentile(_))
            ));
        }
    }

    #[test]
    fn a_fit_holds_together() {
        let images = features(60, 5, 2);
        let stats = MemberStatistics::fit(&images, 90.0).unwrap();
        assert_eq!(stats.features(), 5);
        assert_eq!(stats.precision.len(), 25);
        assert!(stats.distances.windows(2).all(|w| w[0] <= w[1]));
        // The stored distances are the images' own, computed another way.
        let mut again: Vec<f64> = images.iter().map(|x| stats.distance(x).unwrap()).collect();
        again.sort_by(f64::total_cmp);
        for (a, b) in again.iter().zip(&stats.distances) {
            assert!((a - f64::from(*b)).abs() < 1e-4 * a.max(1.0), "{a} vs {b}");
        }
        assert_eq!(stats.percentile_of(0.0), 0.0);
        assert_eq!(stats.percentile_of(f64::from(stats.distances[59])), 100.0);
        assert_eq!(stats.percentile_of(f64::from(stats.distances[29])), 50.0);
        assert!(stats.percentile_of(f64::from(stats.threshold)) >= 90.0);
        assert_eq!(
            stats.distance(&[0.0; 4]).unwrap_err(),
            ReferenceError::FeatureCount { found: 4, expected: 5 }
        );
        assert_eq!(
            stats.distance(&[f32::INFINITY; 5]).unwrap_err(),
            ReferenceError::NonFiniteInput
        );
        assert_eq!(stats.distance(&stats.mean).unwrap(), 0.0);
    }

    #[test]
    fn an_ensemble_fit_names_the_member_that_fails() {
        let mut second = features(8, 3, 4);
        second[5][0] = f32::NAN;
        let err = ReferenceStatistics::fit(&[features(8, 3, 3), second], 99.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "member 1's reference statistics: image 5 has a feature that is not a finite number"
        );
        let err = ReferenceStatistics::fit(&[features(8, 3, 3), features(7, 3, 4)], 99.0).unwrap_err();
        assert_eq!(
            err,
            ReferenceError::MemberImageCount {
                member: 1,
                found: 7,
                expected: 8
            }
        );
        assert_eq!(
            ReferenceStatistics::fit(&[], 99.0).unwrap_err(),
            ReferenceError::NoMembers
        );
        let many = vec![features(4, 2, 5); MAX_MEMBERS + 1];
        assert!(matches!(
            ReferenceStatistics::fit(&many, 99.0),
            Err(ReferenceError::TooManyMembers { found: 17, max: 16 })
        ));
    }

    #[test]
    fn assess_takes_the_first_members_and_no_more_than_there_are() {
        let per_member = [features(30, 4, 6), features(30, 4, 7), features(30, 4, 8)];
        let stats = ReferenceStatistics::fit(&per_member, DEFAULT_PERCENTILE).unwrap();
        assert_eq!((stats.images, stats.members.len()), (30, 3));
        let typical = stats.members[0].mean.clone();
        let one = stats.assess(std::slice::from_ref(&typical)).unwrap();
        assert_eq!(one.distances.len(), 1);
        assert_eq!(one.thresholds, vec![f64::from(stats.members[0].threshold)]);
        assert!(!one.is_unlike());
        let far: Vec<f32> = typical.iter().map(|v| v + 1000.0).collect();
        let two = stats.assess(&[far.clone(), far.clone()]).unwrap();
        assert_eq!(two.distances.len(), 2);
        assert!(two.is_unlike());
        assert_eq!(two.percentiles, vec![100.0, 100.0]);
        assert!(two.message().contains("beyond every reference radiograph's"));
        assert_eq!(
            stats.assess(&vec![far; 4]).unwrap_err(),
            ReferenceError::MoreMembersThanStatistics { found: 4, available: 3 }
        );
        assert_eq!(stats.assess(&[]).unwrap_err(), ReferenceError::NoMembers);
        let err = stats.assess(&[typical.clone(), vec![0.0; 2]]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "member 1's reference statistics: the image has 2 features, the statistics have 4"
        );
    }

    #[test]
    fn the_ratio_is_the_median_over_members() {
        // Odd: the middle ratio, whatever the others.
        assert_eq!(typicality(&[1.0, 30.0, 2.0], &[1.0, 1.0, 1.0], &[50.0; 3]).ratio, 2.0);
        // Even: the mean of the two middle ones (0.5 and 1.5 of 0.25, 0.5, 1.5, 8).
        let even = typicality(&[1.0, 2.0, 3.0, 16.0], &[4.0, 4.0, 2.0, 2.0], &[50.0; 4]);
        assert_eq!(even.ratio, 1.0);
        assert!(!even.is_unlike(), "exactly at the threshold is not beyond it");
        // One member far out does not make the image unlike.
        assert!(!typicality(&[9.0, 0.5, 0.5], &[1.0, 1.0, 1.0], &[100.0, 40.0, 40.0]).is_unlike());
    }

    #[test]
    fn messages_are_plain_sentences() {
        let beyond = typicality(&[1.84, 1.9, 1.7], &[1.0, 1.0, 1.0], &[100.0, 99.5, 100.0]);
        assert_eq!(
            beyond.message(),
            "unlike the reference radiographs: its features lie beyond the 99th percentile of theirs (1.84x the threshold)"
        );
        let every = typicality(&[1.84], &[1.0], &[100.0]);
        assert_eq!(
            every.message(),
            "unlike the reference radiographs: its features lie beyond every reference radiograph's (1.84x the threshold)"
        );
        let like = typicality(&[0.62], &[1.0], &[41.0]);
        assert_eq!(
            like.message(),
            "like the reference radiographs: its features lie within the 99th percentile of theirs (0.62x the threshold)"
        );
        let ordinals = [1.0, 2.0, 3.0, 4.0, 11.0, 12.0, 13.0, 21.0, 22.0, 95.0, 99.5, 100.0];
        assert_eq!(
            ordinals.map(ordinal),
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "95th", "99.5th", "100th"
            ]
        );
    }

    #[test]
    fn typicality_serialises_its_fields() {
        let t = typicality(&[2.0], &[1.0], &[100.0]);
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(json["ratio"], 2.0);
        assert_eq!(serde_json::from_value::<Typicality>(json).unwrap(), t);
    }

    /// convnext_base's 1024 pooled features of 2000 images: `cargo test
    /// --release -p chexlens-reference -- --ignored --nocapture`.
    #[test]
    #[ignore = "a timing, meaningful in release only"]
    fn fit_time_for_1024_features_and_2000_images() {
        let images = features(2000, 1024, 9);
        let start = std::time::Instant::now();
        let stats = MemberStatistics::fit(&images, DEFAULT_PERCENTILE).unwrap();
        let elapsed = start.elapsed();
        println!("fit 2000 x 1024: {elapsed:?} (shrinkage {:.4})", stats.shrinkage);
        let start = std::time::Instant::now();
        stats.distance(&images[0]).unwrap();
        println!("one distance: {:?}", start.elapsed());
        assert!(elapsed.as_secs_f64() < 3.0);
    }
}
