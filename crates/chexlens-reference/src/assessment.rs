//! One image's warnings, whichever side runs it (the CLI, the page's
//! worker): what its file says (chexlens-images' `suitability`), then,
//! where the model has reference statistics, whether its features lie
//! beyond the threshold of theirs.

use crate::error::ReferenceError;
use crate::statistics::{ReferenceStatistics, Typicality};
use chexlens_images::suitability::{Warning, WarningCode};

/// Whether an image is one the model can answer for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Assessment {
    /// Every reason it may not be; empty for a chest radiograph like the reference ones.
    pub warnings: Vec<Warning>,
    /// The distance to the reference radiographs; `None` without statistics.
    pub typicality: Option<Typicality>,
}

impl Assessment {
    /// The warnings' messages.
    pub fn messages(&self) -> Vec<String> {
        self.warnings.iter().map(|w| w.message.clone()).collect()
    }

    /// The warnings in one line, for a refusal.
    pub fn summary(&self) -> String {
        self.messages().join("; ")
    }
}

/// The file's warnings, and the distance of `member_features` (the loaded
/// members', in order) to `reference`, warned when beyond its threshold.
pub fn assess_image(
    file_warnings: Vec<Warning>,
    reference: Option<&ReferenceStatistics>,
    member_features: &[Vec<f32>],
) -> Result<Assessment, ReferenceError> {
    let mut warnings = file_warnings;
    let typicality = reference.map(|r| r.assess(member_features)).transpose()?;
    if let Some(t) = typicality.as_ref().filter(|t| t.is_unlike()) {
        warnings.push(Warning::new(WarningCode::UnlikeReference, t.message()));
    }
    Ok(Assessment { warnings, typicality })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> ReferenceStatistics {
        // Two features, ten images on a ring around (1, 1).
        let features: Vec<Vec<f32>> = (0..10)
            .map(|i| {
                let angle = i as f32 * 0.628;
                vec![1.0 + angle.cos(), 1.0 + angle.sin()]
            })
            .collect();
        ReferenceStatistics::fit(&[features], 90.0).unwrap()
    }

    #[test]
    fn far_features_are_warned_after_the_files_own_warnings() {
        let colour = Warning::new(WarningCode::Colour, "a colour image (RGB); radiographs are grey");
        let near = assess_image(vec![], Some(&reference()), &[vec![1.0, 1.0]]).unwrap();
        assert!(near.warnings.is_empty());
        assert!(near.typicality.unwrap().ratio < 1.0);
        let far = assess_image(vec![colour.clone()], Some(&reference()), &[vec![40.0, -30.0]]).unwrap();
        assert_eq!(far.warnings[0], colour);
        assert_eq!(far.warnings[1].code, WarningCode::UnlikeReference);
        assert_eq!(far.warnings[1].message, far.typicality.as_ref().unwrap().message());
        assert!(
            far.summary()
                .starts_with("a colour image (RGB); radiographs are grey; unlike")
        );
    }

    #[test]
    fn without_statistics_only_the_file_speaks() {
        let none = assess_image(vec![], None, &[vec![40.0, -30.0]]).unwrap();
        assert_eq!(none, Assessment::default());
        assert!(assess_image(vec![], Some(&reference()), &[vec![1.0]]).is_err());
        assert!(reference().check_fits(1, 2).is_ok());
        assert!(reference().check_fits(2, 2).is_err());
        assert!(reference().check_fits(1, 3).is_err());
    }
}
