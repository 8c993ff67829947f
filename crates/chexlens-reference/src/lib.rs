//! chexlens-reference: reference statistics of a model's pooled backbone
//! features, one set per ensemble member, and how far an image's features
//! lie from the radiographs the statistics were computed on.
//!
//! The distance is a Mahalanobis distance under a Ledoit-Wolf shrunk
//! covariance, as Lee et al. 2018 score inputs unlike the training data
//! ("A Simple Unified Framework for Detecting Out-of-Distribution Samples
//! and Adversarial Attacks", <https://arxiv.org/abs/1807.03888>); the
//! shrinkage is scikit-learn's `sklearn.covariance.LedoitWolf`
//! (<https://github.com/scikit-learn/scikit-learn/blob/main/sklearn/covariance/_shrunk_covariance.py>),
//! which `tests/against_sklearn.rs` holds it to. An image is flagged when
//! its distance is beyond a percentile (99 by default) of the reference
//! images' own distances. Used to warn on images unlike chest radiographs.
//!
//! `statistics` fits and applies them, `file` reads and writes them as a
//! `.safetensors` file within hard bounds, and `assessment` joins their
//! verdict to what an image's file says of it (chexlens-images'
//! `suitability`): the warnings the CLI and the page show.

pub mod assessment;
mod error;
pub mod file;
mod linalg;
pub mod statistics;

pub use error::ReferenceError;
pub use statistics::{DEFAULT_PERCENTILE, MemberStatistics, ReferenceStatistics, Typicality};
