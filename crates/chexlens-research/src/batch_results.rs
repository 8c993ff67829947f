//! The page's batch results as it keeps them on disk: one JSON line per
//! finished image (its path and size, the metadata used, and its
//! probabilities and heat maps, or why it failed), read back after a
//! reload and by the exports. The lines come from the browser's storage,
//! which a crash can leave damaged: each is bounded in length and checked
//! (the probabilities' count, each heat map's size) before it is used, and
//! a line that fails is counted, not trusted.

use chexlens_chexpert::metadata::Metadata;
use chexlens_images::cam::CamMap;
use chexlens_images::suitability::Warning;
use serde::{Deserialize, Serialize};

/// The longest line read back: 14 maps of 24 x 24 values, as JSON, are
/// about 100 kB.
pub const MAX_LINE_BYTES: usize = 4 << 20;
/// The most labels a result may have, and values in one heat map.
pub const MAX_LABELS: usize = 256;
pub const MAX_MAP_VALUES: usize = 128 * 128;
/// The most warnings one result may carry, and the longest.
pub const MAX_WARNINGS: usize = 16;
pub const MAX_WARNING_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    Done {
        probabilities: Vec<f32>,
        /// Every label's heat map, by label index, where they were made.
        maps: Option<Vec<CamMap>>,
    },
    Failed {
        error: String,
    },
}

/// One finished image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub path: String,
    /// With the path, how a file picked again is known to be done already.
    pub size: u64,
    pub metadata: Metadata,
    pub from_labels: bool,
    /// Why the image may not be a chest radiograph (none for most).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

impl Record {
    /// The record as one line (no line break in it: JSON escapes them).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether its numbers can be what a model of `labels` labels gave.
    fn is_sound(&self, labels: usize) -> bool {
        let warnings_sound =
            self.warnings.len() <= MAX_WARNINGS && self.warnings.iter().all(|w| w.message.len() <= MAX_WARNING_BYTES);
        warnings_sound
            && match &self.outcome {
                Outcome::Done { probabilities, maps } => {
                    probabilities.len() == labels
                        && probabilities.iter().all(|p| (0.0..=1.0).contains(p))
                        && maps.as_ref().is_none_or(|maps| {
                            maps.len() <= labels
                                && maps.iter().all(|m| {
                                    m.width.checked_mul(m.height) == Some(m.values.len())
                                        && m.values.len() <= MAX_MAP_VALUES
                                        && m.values.iter().all(|v| v.is_finite())
                                })
                        })
                }
                Outcome::Failed { .. } => true,
            }
    }
}

/// The records of a results file for a model of `labels` labels, and how
/// many lines could not be read back.
pub fn parse_lines(text: &str, labels: usize) -> (Vec<Record>, usize) {
    let mut unreadable = 0;
    let records = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let record = (line.len() <= MAX_LINE_BYTES && labels <= MAX_LABELS)
                .then(|| serde_json::from_str::<Record>(line).ok())
                .flatten()
                .filter(|r| r.is_sound(labels));
            unreadable += usize::from(record.is_none());
            record
        })
        .collect();
    (records, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chexlens_images::suitability::WarningCode;

    fn done(path: &str) -> Record {
        Record {
            path: path.into(),
            size: 7_200_056,
            metadata: Metadata::default(),
            from_labels: false,
            warnings: Vec::new(),
            outcome: Outcome::Done {
                probabilities: vec![0.25, 0.5],
                maps: Some(vec![CamMap {
                    width: 2,
                    height: 1,
                    values: vec![0.0, 1.0],
                }]),
            },
        }
    }

    #[test]
    fn lines_read_back_as_written() {
        let failed = Record {
            outcome: Outcome::Failed {
                error: "a.dcm: truncated\nat byte 9".into(),
            },
            ..done("b/a.dcm")
        };
        let warned = Record {
            warnings: vec![Warning::new(WarningCode::NotRadiograph, "a CT, not a chest radiograph")],
            ..done("ct.dcm")
        };
        let text = [done("x.png"), failed.clone(), warned.clone()]
            .map(|r| r.to_line())
            .join("\n");
        assert_eq!(text.lines().count(), 3, "one line each, line breaks escaped");
        assert!(
            !text.lines().next().unwrap().contains("warnings"),
            "none written when there are none"
        );
        assert_eq!(parse_lines(&text, 2), (vec![done("x.png"), failed, warned], 0));
    }

    #[test]
    fn damaged_or_unsound_lines_are_counted_not_trusted() {
        let mut wrong_count = done("a.png");
        wrong_count.outcome = Outcome::Done {
            probabilities: vec![0.5],
            maps: None,
        };
        let mut bad_map = done("b.png");
        if let Outcome::Done { maps: Some(maps), .. } = &mut bad_map.outcome {
            maps[0].width = 3;
        }
        let mut out_of_range = done("c.png");
        out_of_range.outcome = Outcome::Done {
            probabilities: vec![0.5, 1.5],
            maps: None,
        };
        let mut too_many_warnings = done("f.png");
        too_many_warnings.warnings = vec![Warning::new(WarningCode::Colour, "colour"); MAX_WARNINGS + 1];
        let truncated = &done("d.png").to_line()[..40];
        let text = [
            wrong_count.to_line(),
            bad_map.to_line(),
            out_of_range.to_line(),
            truncated.into(),
            too_many_warnings.to_line(),
            done("e.png").to_line(),
        ]
        .join("\n");
        assert_eq!(parse_lines(&text, 2), (vec![done("e.png")], 5));
    }
}
