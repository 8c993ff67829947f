//! Patient metadata and its one encoding into the model's 8 inputs:
//! sex, age, age-missing, frontal, AP, PA, no AP/PA label, AP/PA unknown.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sex {
    Male,
    Female,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Frontal,
    Lateral,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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

/// A metadata field with named values. The names are the ones the CLI
/// parses, the page's options carry, output prints and serde writes; the
/// labels are what a form shows.
pub trait Choice: Copy + PartialEq + Sized + 'static {
    /// The field, as messages name it.
    const FIELD: &'static str;
    /// Every value with its name and label, in the order a form lists them.
    const CHOICES: &'static [(Self, &'static str, &'static str)];
    /// Other spellings accepted when parsing.
    const ALIASES: &'static [(&'static str, Self)] = &[];

    fn name(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(v, _, _)| *v == self)
            .map_or("", |(_, name, _)| name)
    }

    fn label(self) -> &'static str {
        Self::CHOICES
            .iter()
            .find(|(v, _, _)| *v == self)
            .map_or("", |(_, _, label)| label)
    }

    /// The value named `s` (any case, surrounding space ignored).
    fn parse_choice(s: &str) -> Result<Self, String> {
        let lower = s.trim().to_ascii_lowercase();
        let named = Self::CHOICES.iter().map(|&(v, name, _)| (name, v));
        named
            .chain(Self::ALIASES.iter().copied())
            .find(|(name, _)| *name == lower)
            .map(|(_, v)| v)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::CHOICES.iter().map(|(_, n, _)| *n).collect();
                format!("'{s}' is not a {}; use one of: {}", Self::FIELD, names.join(", "))
            })
    }
}

impl Choice for Sex {
    const FIELD: &'static str = "sex";
    const CHOICES: &'static [(Self, &'static str, &'static str)] =
        &[(Sex::Male, "male", "male"), (Sex::Female, "female", "female")];
    const ALIASES: &'static [(&'static str, Self)] = &[("m", Sex::Male), ("f", Sex::Female)];
}

impl Choice for View {
    const FIELD: &'static str = "view";
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (View::Frontal, "frontal", "frontal"),
        (View::Lateral, "lateral", "lateral"),
    ];
}

impl Choice for Projection {
    const FIELD: &'static str = "projection";
    const CHOICES: &'static [(Self, &'static str, &'static str)] = &[
        (Projection::Pa, "pa", "PA"),
        (Projection::Ap, "ap", "AP"),
        (Projection::None, "none", "none (no AP/PA label)"),
        (Projection::Unknown, "unknown", "unknown"),
    ];
}

macro_rules! from_str_by_choice {
    ($($t:ty),*) => {$(
        impl FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                Self::parse_choice(s)
            }
        }
    )*};
}
from_str_by_choice!(Sex, View, Projection);

/// How far the sensitivity view moves a known age, in years.
pub const AGE_STEP: f32 = 10.0;

/// One change of an image's metadata, for showing how much the model's
/// answer depends on it: the change in words, and the metadata with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataChange {
    pub change: String,
    pub metadata: Metadata,
}

/// The changes worth showing: the other sex; the age ±[`AGE_STEP`] years
/// (when known, within 0 to 130); the other view; the other projection (AP
/// for PA and back; both for none and unknown).
pub fn sensitivity_changes(m: &Metadata) -> Vec<MetadataChange> {
    let mut changes = Vec::new();
    let mut push = |change: String, metadata: Metadata| changes.push(MetadataChange { change, metadata });
    let sex = match m.sex {
        Sex::Male => Sex::Female,
        Sex::Female => Sex::Male,
    };
    push(format!("sex: {}", sex.label()), Metadata { sex, ..*m });
    if let Some(age) = m.age {
        for moved in [age - AGE_STEP, age + AGE_STEP] {
            if (0.0..=130.0).contains(&moved) {
                push(format!("age: {moved}"), Metadata { age: Some(moved), ..*m });
            }
        }
    }
    let view = match m.view {
        View::Frontal => View::Lateral,
        View::Lateral => View::Frontal,
    };
    push(format!("view: {}", view.label()), Metadata { view, ..*m });
    let projections: &[Projection] = match m.projection {
        Projection::Ap => &[Projection::Pa],
        Projection::Pa => &[Projection::Ap],
        Projection::None | Projection::Unknown => &[Projection::Ap, Projection::Pa],
    };
    for &projection in projections {
        push(
            format!("projection: {}", projection.label()),
            Metadata { projection, ..*m },
        );
    }
    changes
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
    fn sensitivity_changes_each_field_once_and_keep_the_rest() {
        let names = |m: &Metadata| sensitivity_changes(m).into_iter().map(|c| c.change).collect::<Vec<_>>();
        assert_eq!(
            names(&Metadata::default()),
            ["sex: female", "age: 40", "age: 60", "view: lateral", "projection: AP"]
        );
        let young_unknown = Metadata {
            sex: Sex::Female,
            age: Some(5.0),
            view: View::Lateral,
            projection: Projection::None,
        };
        assert_eq!(
            names(&young_unknown),
            [
                "sex: male",
                "age: 15",
                "view: frontal",
                "projection: AP",
                "projection: PA"
            ]
        );
        let unknown_age = Metadata {
            age: None,
            ..Metadata::default()
        };
        assert!(names(&unknown_age).iter().all(|n| !n.starts_with("age")));
        for change in sensitivity_changes(&Metadata::default()) {
            let m = change.metadata;
            let differing = [
                m.sex != Sex::Male,
                m.age != Some(50.0),
                m.view != View::Frontal,
                m.projection != Projection::Pa,
            ];
            assert_eq!(differing.iter().filter(|&&d| d).count(), 1, "{}", change.change);
        }
    }

    #[test]
    fn default_matches_the_reference_demo_vector() {
        // The reference app's demo feeds [0, 50, 0, 1, 0, 1, 0, 0].
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
        assert_eq!("F".parse::<Sex>().unwrap(), Sex::Female);
    }

    /// The names are serde's too, so JSON output and parsing agree.
    #[test]
    fn choice_names_are_the_serde_names() {
        fn check<T: Choice + Serialize + std::fmt::Debug>() {
            for &(value, name, _) in T::CHOICES {
                assert_eq!(serde_json::to_string(&value).unwrap(), format!("\"{name}\""));
                assert_eq!(T::parse_choice(name).unwrap(), value);
                assert_eq!(value.name(), name);
            }
        }
        check::<Sex>();
        check::<View>();
        check::<Projection>();
    }
}
