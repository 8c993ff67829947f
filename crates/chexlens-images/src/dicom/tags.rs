//! The patient and view tags that fill the metadata form. Identifying tags
//! (name, ID) are never read; the birth date is used only to compute an
//! age when PatientAge is absent, and is not kept.

use chexlens_chexpert::metadata::{Choice, Metadata, Projection, Sex, View};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::{Deserialize, Serialize};

/// Metadata found in a DICOM file; `None` where the file says nothing usable.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DicomTags {
    pub sex: Option<Sex>,
    /// Age in years.
    pub age: Option<f32>,
    pub view: Option<View>,
    pub projection: Option<Projection>,
    /// Where the age came from: `PatientAge` or `birth date and study date`.
    pub age_source: Option<String>,
    /// ViewPosition as written in the file (shown so a user can check the mapping).
    pub view_position: Option<String>,
}

impl DicomTags {
    /// `base` with every field the file provides replaced by the file's value.
    pub fn apply_to(&self, base: Metadata) -> Metadata {
        Metadata {
            sex: self.sex.unwrap_or(base.sex),
            age: self.age.or(base.age),
            view: self.view.unwrap_or(base.view),
            projection: self.projection.unwrap_or(base.projection),
        }
    }

    /// What the file gave the metadata, a phrase per field: "sex female",
    /// "age 64 (PatientAge)", "view PA", or a ViewPosition that maps to nothing.
    pub fn contributions(&self) -> Vec<String> {
        let mut given = Vec::new();
        if let Some(sex) = self.sex {
            given.push(format!("sex {}", sex.name()));
        }
        if let (Some(age), Some(source)) = (self.age, &self.age_source) {
            given.push(format!("age {age:.0} ({source})"));
        }
        if let Some(position) = &self.view_position {
            if self.view.is_some() {
                given.push(format!("view {position}"));
            } else {
                given.push(format!("view {position} (not mapped; default used)"));
            }
        }
        given
    }

    pub fn is_empty(&self) -> bool {
        self.sex.is_none() && self.age.is_none() && self.view.is_none() && self.projection.is_none()
    }
}

/// A text element, trimmed of padding; `None` when absent or empty.
pub(crate) fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    let value = obj.get(tag)?.to_str().ok()?;
    let value = value.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!value.is_empty()).then(|| value.to_owned())
}

pub(crate) fn read_tags(obj: &InMemDicomObject) -> DicomTags {
    let sex = text(obj, tags::PATIENT_SEX).and_then(|s| match s.to_ascii_uppercase().as_str() {
        "M" => Some(Sex::Male),
        "F" => Some(Sex::Female),
        _ => None,
    });
    let (age, age_source) = match text(obj, tags::PATIENT_AGE).and_then(|s| parse_age_string(&s)) {
        Some(age) => (Some(age), Some("PatientAge".to_owned())),
        None => {
            let study = [
                tags::STUDY_DATE,
                tags::ACQUISITION_DATE,
                tags::CONTENT_DATE,
                tags::SERIES_DATE,
            ]
            .into_iter()
            .find_map(|tag| text(obj, tag).and_then(|s| parse_date(&s)));
            let birth = text(obj, tags::PATIENT_BIRTH_DATE).and_then(|s| parse_date(&s));
            match (birth, study) {
                (Some(birth), Some(study)) => match completed_years(birth, study) {
                    Some(years) => (Some(years as f32), Some("birth date and study date".to_owned())),
                    None => (None, None),
                },
                _ => (None, None),
            }
        }
    };
    let view_position = text(obj, tags::VIEW_POSITION);
    let (view, projection) = view_position.as_deref().map(map_view_position).unwrap_or((None, None));
    DicomTags {
        sex,
        age,
        view,
        projection,
        age_source,
        view_position,
    }
}

/// PatientAge (VR AS): three digits and D, W, M or Y, e.g. `045Y`, `006M`.
pub fn parse_age_string(s: &str) -> Option<f32> {
    let s = s.trim();
    if s.len() != 4 || !s.is_ascii() {
        return None;
    }
    let number: f32 = s[..3].parse::<u16>().ok()? as f32;
    let years = match s.as_bytes()[3].to_ascii_uppercase() {
        b'D' => number / 365.25,
        b'W' => number * 7.0 / 365.25,
        b'M' => number / 12.0,
        b'Y' => number,
        _ => return None,
    };
    (0.0..=130.0).contains(&years).then_some(years)
}

/// A DICOM date (VR DA, `YYYYMMDD`).
fn parse_date(s: &str) -> Option<(u32, u32, u32)> {
    let s = s.trim();
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d) = (s[..4].parse().ok()?, s[4..6].parse().ok()?, s[6..].parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((y, m, d))
}

/// Whole years from `birth` to `on`, as an age is usually stated.
fn completed_years(birth: (u32, u32, u32), on: (u32, u32, u32)) -> Option<u32> {
    if on < birth {
        return None;
    }
    let mut years = on.0 - birth.0;
    if (on.1, on.2) < (birth.1, birth.2) {
        years -= 1;
    }
    (years <= 130).then_some(years)
}

/// ViewPosition defined terms (PS3.3 C.8.11.5.1.1) to the model's view and
/// projection. Decubitus and oblique views have no model equivalent and are
/// left to the user.
pub fn map_view_position(s: &str) -> (Option<View>, Option<Projection>) {
    match s.trim().to_ascii_uppercase().as_str() {
        "PA" => (Some(View::Frontal), Some(Projection::Pa)),
        "AP" => (Some(View::Frontal), Some(Projection::Ap)),
        "LL" | "RL" | "LAT" | "LATERAL" | "LEFT LATERAL" | "RIGHT LATERAL" => {
            (Some(View::Lateral), Some(Projection::None))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_strings_in_every_unit() {
        assert_eq!(parse_age_string("045Y"), Some(45.0));
        assert_eq!(parse_age_string("006M"), Some(0.5));
        assert_eq!(parse_age_string("052W"), Some(52.0 * 7.0 / 365.25));
        assert_eq!(parse_age_string("010D"), Some(10.0 / 365.25));
        assert_eq!(parse_age_string("45Y"), None);
        assert_eq!(parse_age_string("045X"), None);
        assert_eq!(parse_age_string("999Y"), None);
    }

    #[test]
    fn age_from_dates_counts_completed_years() {
        // RG1 of the WG04 set: born 1940-03-05, studied 2004-08-26.
        assert_eq!(completed_years((1940, 3, 5), (2004, 8, 26)), Some(64));
        assert_eq!(completed_years((1940, 9, 5), (2004, 8, 26)), Some(63));
        assert_eq!(completed_years((2005, 1, 1), (2004, 8, 26)), None);
        assert_eq!(parse_date("2004-08-26"), None);
    }

    #[test]
    fn view_positions() {
        assert_eq!(map_view_position("PA"), (Some(View::Frontal), Some(Projection::Pa)));
        assert_eq!(map_view_position("ap "), (Some(View::Frontal), Some(Projection::Ap)));
        assert_eq!(map_view_position("LL"), (Some(View::Lateral), Some(Projection::None)));
        assert_eq!(map_view_position("RLO"), (None, None));
    }

    #[test]
    fn file_values_override_only_what_they_provide() {
        let tags = DicomTags {
            sex: Some(Sex::Female),
            view: Some(View::Lateral),
            projection: Some(Projection::None),
            ..Default::default()
        };
        let merged = tags.apply_to(Metadata::default());
        assert_eq!(merged.sex, Sex::Female);
        assert_eq!(merged.age, Metadata::default().age);
        assert_eq!(merged.view, View::Lateral);
        assert_eq!(merged.projection, Projection::None);
    }
}
