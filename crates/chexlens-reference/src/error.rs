//! Everything that can be wrong with reference statistics, their features
//! or their file, each message naming what is wrong.

/// A failure to fit, apply, read or write reference statistics.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReferenceError {
    // Fitting and applying.
    #[error("reference statistics need at least 2 images, {0} given")]
    TooFewImages(usize),
    #[error("reference statistics are fitted on at most {max} images, {found} given")]
    TooManyImages { found: usize, max: usize },
    #[error("reference statistics: the images have no features")]
    NoFeatures,
    #[error("reference statistics are fitted on at most {max} features, the images have {found}")]
    TooManyFeatures { found: usize, max: usize },
    #[error("reference statistics: image {image} has {found} features, the first has {expected}")]
    ImageFeatureCount {
        image: usize,
        found: usize,
        expected: usize,
    },
    #[error("reference statistics: image {image} has a feature that is not a finite number")]
    NonFiniteFeature { image: usize },
    #[error(
        "reference statistics: the features' covariance is not positive definite (at feature {feature}); \
         features that do not vary at all, or vary together exactly, cannot be fitted"
    )]
    NotPositiveDefinite { feature: usize },
    #[error("reference statistics: the features are too large or too small to fit in f32 statistics")]
    OutOfRange,
    #[error(
        "reference statistics: the {} percentile of the images' own distances is 0; choose a higher percentile",
        ordinal(*percentile)
    )]
    ZeroThreshold { percentile: f64 },
    #[error("reference statistics: the percentile must be above 0 and at most 100, not {0}")]
    Percentile(f64),
    #[error("reference statistics: no members")]
    NoMembers,
    #[error("reference statistics: {found} members; an ensemble has at most {max}")]
    TooManyMembers { found: usize, max: usize },
    #[error("reference statistics: member {member} has {found} images, member 0 has {expected}")]
    MemberImageCount {
        member: usize,
        found: usize,
        expected: usize,
    },
    #[error("reference statistics: features of {found} members given, the statistics have {available}")]
    MoreMembersThanStatistics { found: usize, available: usize },
    #[error("reference statistics: the image has {found} features, the statistics have {expected}")]
    FeatureCount { found: usize, expected: usize },
    #[error("reference statistics: the image has a feature that is not a finite number")]
    NonFiniteInput,
    /// One member's problem, the member named in front.
    #[error("member {member}'s {inner}")]
    InMember { member: usize, inner: Box<ReferenceError> },

    // Reading a file.
    #[error("reference statistics: the file is empty")]
    EmptyFile,
    #[error("reference statistics: the file is {found} bytes; statistics files are read up to {} MiB", max >> 20)]
    FileTooLarge { found: u64, max: u64 },
    #[error("reference statistics: not a readable .safetensors file ({0})")]
    NotSafetensors(String),
    #[error("reference statistics: the file's metadata has no '{0}'")]
    MissingMetadata(&'static str),
    #[error(
        "reference statistics: this is not a chexlens reference statistics file (its metadata's format is {}, \
         not 'chexlens-reference-statistics')",
        .0.as_deref().map_or("missing".to_string(), |f| format!("'{f}'"))
    )]
    WrongFormat(Option<String>),
    #[error("reference statistics: the file is version '{0}'; this chexlens reads version 1")]
    UnsupportedVersion(String),
    #[error("reference statistics: the file's metadata '{key}' is '{value}', not {expected}")]
    BadMetadata {
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("reference statistics: unexpected tensor '{0}'")]
    UnexpectedTensor(String),
    #[error("reference statistics: member {member} has no {what}")]
    MissingTensor { member: usize, what: &'static str },
    #[error("reference statistics: '{name}' is stored as {dtype}; statistics are f32")]
    TensorDType { name: String, dtype: &'static str },
    #[error("reference statistics: '{name}' has shape {found:?}, expected {expected}")]
    TensorShape {
        name: String,
        found: Vec<usize>,
        expected: String,
    },
    #[error("reference statistics: '{0}' holds a value that is not a finite number")]
    NonFiniteValue(String),
    #[error("reference statistics: member {0}'s distances are negative or not in ascending order")]
    UnorderedDistances(usize),
    #[error(
        "reference statistics: member {member}'s threshold {threshold} lies outside its distances ({lowest} to {highest})"
    )]
    ThresholdOutsideDistances {
        member: usize,
        threshold: f32,
        lowest: f32,
        highest: f32,
    },
    #[error("reference statistics: member {member}'s shrinkage {shrinkage} is not between 0 and 1")]
    Shrinkage { member: usize, shrinkage: f32 },
    #[error("reference statistics: member {0}'s precision matrix is not symmetric with a positive diagonal")]
    Precision(usize),
}

impl ReferenceError {
    /// This error as one member's.
    pub(crate) fn in_member(self, member: usize) -> Self {
        Self::InMember {
            member,
            inner: Box::new(self),
        }
    }
}

/// "1st", "2nd", "3rd", "11th", "99th", "99.5th".
pub(crate) fn ordinal(value: f64) -> String {
    if value.fract() != 0.0 || !value.is_finite() {
        return format!("{value}th");
    }
    let whole = value.abs() as u64;
    let suffix = match (whole % 10, whole % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{value}{suffix}")
}
