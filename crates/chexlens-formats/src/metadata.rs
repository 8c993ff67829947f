//! Patient metadata and its one encoding into the model's 8 inputs:
//! sex, age, age-missing, frontal, AP, PA, no AP/PA label, AP/PA unknown.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Frontal,
    Lateral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Projection {
    Ap,
    Pa,
    /// No AP/PA label, as for lateral views.
    None,
    Unknown,
}

/// One patient and view. `age: None` means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub sex: Sex,
    pub age: Option<f32>,
    pub view: View,
    pub projection: Projection,
}

impl Default for Metadata {
    /// The reference demo's patient: male, 50, frontal PA.
    fn default() -> Self {
        Self {
            sex: Sex::Male,
            age: Some(50.0),
            view: View::Frontal,
            projection: Projection::Pa,
        }
    }
}

impl Metadata {
    /// How many inputs the encoding gives the model's metadata MLP.
    pub const INPUTS: usize = 8;

    /// The model's 8 inputs. Age is multiplied by `age_scale` (1 = years, as the
    /// reference script feeds them); unknown age is 0 with the missing flag set.
    pub fn encode(&self, age_scale: f32) -> [f32; Self::INPUTS] {
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        [
            flag(self.sex == Sex::Female),
            self.age.map_or(0.0, |a| a * age_scale),
            flag(self.age.is_none()),
            flag(self.view == View::Frontal),
            flag(self.projection == Projection::Ap),
            flag(self.projection == Projection::Pa),
            flag(self.projection == Projection::None),
            flag(self.projection == Projection::Unknown),
        ]
    }
}

fn parse_choice<T: Copy>(s: &str, what: &str, choices: &[(&str, T)]) -> Result<T, String> {
    let lower = s.trim().to_ascii_lowercase();
    choices
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            format!("'{s}' is not a {what}; use one of: {}", names.join(", "))
        })
}

impl FromStr for Sex {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            "sex",
            &[
                ("male", Sex::Male),
                ("female", Sex::Female),
                ("m", Sex::Male),
                ("f", Sex::Female),
            ],
        )
    }
}

impl FromStr for View {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(s, "view", &[("frontal", View::Frontal), ("lateral", View::Lateral)])
    }
}

impl FromStr for Projection {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_choice(
            s,
            "projection",
            &[
                ("ap", Projection::Ap),
                ("pa", Projection::Pa),
                ("none", Projection::None),
                ("unknown", Projection::Unknown),
            ],
        )
    }
}

/// Parses an age in years, or `unknown`.
pub fn parse_age(s: &str) -> Result<Option<f32>, String> {
    if s.trim().eq_ignore_ascii_case("unknown") {
        return Ok(None);
    }
    match s.trim().parse::<f32>() {
        Ok(a) if (0.0..=130.0).contains(&a) => Ok(Some(a)),
        _ => Err(format!("'{s}' is not an age in years (0 to 130) or 'unknown'")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_the_reference_demo_vector() {
        // The reference demo feeds [0, 50, 0, 1, 0, 1, 0, 0] (DESIGN.md).
        assert_eq!(
            Metadata::default().encode(1.0),
            [0.0, 50.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0]
        );
    }

    #[test]
    fn unknown_age_sets_the_missing_flag_and_scale_applies() {
        let m = Metadata {
            sex: Sex::Female,
            age: None,
            view: View::Lateral,
            projection: Projection::None,
        };
        assert_eq!(m.encode(0.01), [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);
        let m = Metadata {
            age: Some(71.0),
            projection: Projection::Ap,
            ..Metadata::default()
        };
        assert_eq!(m.encode(0.01)[1], 0.71);
    }

    #[test]
    fn parses_choices_and_rejects_others() {
        assert_eq!("PA".parse::<Projection>().unwrap(), Projection::Pa);
        assert_eq!(parse_age("unknown").unwrap(), None);
        assert!(parse_age("-3").is_err());
        assert!("sideways".parse::<View>().unwrap_err().contains("frontal, lateral"));
    }
}
