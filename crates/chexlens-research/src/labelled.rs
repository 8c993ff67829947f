//! A labelled set in CheXpert's published layout (train.csv / valid.csv):
//! `Path, Sex, Age, Frontal/Lateral, AP/PA`, then one column per finding
//! holding 1, 0, -1 (uncertain) or nothing (not labelled).

use crate::csv::{self, CsvError, Table};
use chexlens_chexpert::metadata::{Projection, Sex, View};

/// One finding's label for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    Positive,
    Negative,
    /// CheXpert's -1: the labeller was unsure.
    Uncertain,
    /// Blank: the finding was not labelled for this image.
    Missing,
}

/// What the CSV says about the patient and view; `None` where it says
/// nothing usable, so that flags or the manifest's defaults fill it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CsvMetadata {
    pub sex: Option<Sex>,
    /// `Some(None)`: the CSV gives no age, which the model is told (unknown).
    pub age: Option<Option<f32>>,
    pub view: Option<View>,
    pub projection: Option<Projection>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImage {
    /// As written in the CSV (relative to the set's root).
    pub path: String,
    pub metadata: CsvMetadata,
    /// One per label of [`LabelledSet::labels`].
    pub labels: Vec<Label>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelledSet {
    /// The model's labels that the CSV has a column for, in model order.
    pub labels: Vec<String>,
    pub images: Vec<LabelledImage>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelledError {
    #[error("{0}")]
    Csv(#[from] CsvError),
    #[error("there is no 'Path' column; a CheXpert-format CSV starts with Path, Sex, Age, Frontal/Lateral, AP/PA")]
    NoPath,
    #[error("none of the model's labels has a column (expected names such as '{0}')")]
    NoLabels(String),
    #[error("line {line}: '{value}' in '{column}' is not 1, 0, -1 or blank")]
    BadLabel { line: usize, column: String, value: String },
    #[error("line {line}: '{value}' in 'Age' is not an age in years")]
    BadAge { line: usize, value: String },
    #[error("line {line}: the path is empty")]
    EmptyPath { line: usize },
}

impl LabelledSet {
    /// Reads the CSV for a model with these labels; columns are matched by name.
    pub fn parse(bytes: &[u8], model_labels: &[String]) -> Result<Self, LabelledError> {
        let table = csv::parse(bytes)?;
        let path = table.column("Path").ok_or(LabelledError::NoPath)?;
        let columns: Vec<(String, usize)> = model_labels
            .iter()
            .filter_map(|l| table.column(l).map(|c| (l.clone(), c)))
            .collect();
        if columns.is_empty() {
            return Err(LabelledError::NoLabels(
                model_labels.first().cloned().unwrap_or_default(),
            ));
        }
        let images = table
            .rows
            .iter()
            .map(|(line, row)| {
                let at = |c: usize| row[c].trim();
                if at(path).is_empty() {
                    return Err(LabelledError::EmptyPath { line: *line });
                }
                let labels = columns
                    .iter()
                    .map(|(name, c)| parse_label(at(*c), *line, name))
                    .collect::<Result<_, _>>()?;
                Ok(LabelledImage {
                    path: at(path).to_owned(),
                    metadata: metadata(&table, row, *line)?,
                    labels,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            labels: columns.into_iter().map(|(l, _)| l).collect(),
            images,
        })
    }
}

fn parse_label(value: &str, line: usize, column: &str) -> Result<Label, LabelledError> {
    match value.parse::<f32>() {
        _ if value.is_empty() => Ok(Label::Missing),
        Ok(1.0) => Ok(Label::Positive),
        Ok(0.0) => Ok(Label::Negative),
        Ok(-1.0) => Ok(Label::Uncertain),
        _ => Err(LabelledError::BadLabel {
            line,
            column: column.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// The metadata columns, encoded as the model's metadata: Male/Female;
/// the age in years (blank: unknown); Frontal/Lateral; AP and PA, blank
/// for "no AP/PA label" (CheXpert leaves it blank for laterals), and any
/// other value (LL, RL) as unknown. Absent columns and unreadable sexes or
/// views leave the field to the flags and the manifest's defaults.
fn metadata(table: &Table, row: &[String], line: usize) -> Result<CsvMetadata, LabelledError> {
    let cell = |name: &str| table.column(name).map(|c| row[c].trim());
    let sex = cell("Sex").and_then(|s| match s.to_ascii_lowercase().as_str() {
        "male" | "m" => Some(Sex::Male),
        "female" | "f" => Some(Sex::Female),
        _ => None,
    });
    let age = match cell("Age") {
        None => None,
        Some("") => Some(None),
        Some(text) => match text.parse::<f32>() {
            Ok(a) if (0.0..=130.0).contains(&a) => Some(Some(a)),
            _ => {
                return Err(LabelledError::BadAge {
                    line,
                    value: text.to_owned(),
                });
            }
        },
    };
    let view = cell("Frontal/Lateral").and_then(|v| match v.to_ascii_lowercase().as_str() {
        "frontal" => Some(View::Frontal),
        "lateral" => Some(View::Lateral),
        _ => None,
    });
    let projection = cell("AP/PA").map(|p| match p.to_ascii_uppercase().as_str() {
        "AP" => Projection::Ap,
        "PA" => Projection::Pa,
        "" => Projection::None,
        _ => Projection::Unknown,
    });
    Ok(CsvMetadata {
        sex,
        age,
        view,
        projection,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chexlens_chexpert::labels::default_labels;

    const VALID: &str = "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Cardiomegaly,Edema\n\
        CheXpert-v1.0/valid/patient1/study1/view1_frontal.jpg,Male,73,Frontal,AP,,1.0,-1.0\n\
        CheXpert-v1.0/valid/patient2/study1/view2_lateral.jpg,Female,,Lateral,,1.0,0.0,\n";

    #[test]
    fn reads_chexperts_layout() {
        let set = LabelledSet::parse(VALID.as_bytes(), &default_labels()).unwrap();
        assert_eq!(set.labels, ["No Finding", "Cardiomegaly", "Edema"]);
        let [a, b] = &set.images[..] else { panic!("two rows") };
        assert_eq!(a.labels, [Label::Missing, Label::Positive, Label::Uncertain]);
        assert_eq!(
            a.metadata,
            CsvMetadata {
                sex: Some(Sex::Male),
                age: Some(Some(73.0)),
                view: Some(View::Frontal),
                projection: Some(Projection::Ap),
            }
        );
        assert_eq!(b.metadata.age, Some(None));
        assert_eq!(b.metadata.projection, Some(Projection::None));
        assert_eq!(b.labels, [Label::Positive, Label::Negative, Label::Missing]);
    }

    #[test]
    fn says_what_is_wrong_and_where() {
        let labels = default_labels();
        let err = |csv: &str| LabelledSet::parse(csv.as_bytes(), &labels).unwrap_err().to_string();
        assert!(err("Image,Edema\na.png,1\n").contains("no 'Path' column"));
        assert!(err("Path,Flu\na.png,1\n").contains("none of the model's labels"));
        assert_eq!(
            err("Path,Edema\na.png,2\n"),
            "line 2: '2' in 'Edema' is not 1, 0, -1 or blank"
        );
        assert_eq!(
            err("Path,Age,Edema\na.png,old,1\n"),
            "line 2: 'old' in 'Age' is not an age in years"
        );
        assert_eq!(err("Path,Edema\n,1\n"), "line 2: the path is empty");
    }
}
