//! Per-image predictions as `chexlens evaluate --predictions` keeps them:
//! `Path`, one probability column per label, then `Warnings` (why the
//! image may not be a chest radiograph, ` | ` between reasons; files
//! written before that column are read as without). A run appends to the file
//! as it goes, so that an interrupted run resumes and a finished one can
//! be scored again (or merged with other shards) without the model.

use crate::csv::{self, CsvError};

#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRow {
    pub path: String,
    pub probabilities: Vec<f32>,
    /// The image's warnings, in words; empty when it has none.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Predictions {
    /// The file's `#` lines before its header (see [`provenance_comment`]).
    pub comments: Vec<String>,
    pub labels: Vec<String>,
    pub rows: Vec<PredictionRow>,
    /// Whether the file has the `Warnings` column (lines appended to it must match).
    pub with_warnings: bool,
}

/// The last column's name.
pub const WARNINGS_COLUMN: &str = "Warnings";
/// Between two warnings in the `Warnings` column (no warning contains it).
const WARNINGS_SEPARATOR: &str = " | ";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictionsError {
    #[error("{0}")]
    Csv(#[from] CsvError),
    #[error("the header must be Path and the model's labels ({expected}); it is {found}")]
    Header { expected: String, found: String },
    #[error("line {line}: '{value}' is not a probability")]
    BadProbability { line: usize, value: String },
}

/// The line an export puts before its header to say where its numbers
/// came from; readers of the file skip it (pandas: `comment="#"`).
pub fn provenance_comment(provenance: &serde_json::Value) -> String {
    format!("# chexlens provenance {provenance}")
}

/// The header line for these labels.
pub fn predictions_header(labels: &[String]) -> String {
    std::iter::once("Path")
        .chain(labels.iter().map(String::as_str))
        .chain([WARNINGS_COLUMN])
        .map(csv::field)
        .collect::<Vec<_>>()
        .join(",")
}

/// One image's line; f32 values are written so that they read back
/// exactly. `warnings` is `None` for a file without the column.
pub fn predictions_line(path: &str, probabilities: &[f32], warnings: Option<&[String]>) -> String {
    std::iter::once(csv::field(path))
        .chain(probabilities.iter().map(|p| p.to_string()))
        .chain(warnings.map(|w| csv::field(&w.join(WARNINGS_SEPARATOR))))
        .collect::<Vec<_>>()
        .join(",")
}

impl Predictions {
    /// Reads a predictions file written for a model with `labels`, or,
    /// without them, for whichever labels its header names.
    pub fn parse(bytes: &[u8], labels: Option<&[String]>) -> Result<Self, PredictionsError> {
        let table = csv::parse(bytes)?;
        let mut found: Vec<String> = table.header.iter().map(|h| h.trim().to_owned()).collect();
        let with_warnings = found.len() > 1 && found.last().map(String::as_str) == Some(WARNINGS_COLUMN);
        if with_warnings {
            found.pop();
        }
        let labels = labels.map_or_else(|| found.get(1..).unwrap_or_default().to_vec(), <[String]>::to_vec);
        let expected = predictions_header(&labels);
        if found.first().map(String::as_str) != Some("Path") || found[1..] != labels[..] {
            return Err(PredictionsError::Header {
                expected,
                found: table.header.join(","),
            });
        }
        let rows: Vec<PredictionRow> = table
            .rows
            .into_iter()
            .map(|(line, row)| -> Result<PredictionRow, PredictionsError> {
                let values = if with_warnings {
                    &row[1..row.len() - 1]
                } else {
                    &row[1..]
                };
                let probabilities: Vec<f32> = values
                    .iter()
                    .map(|v| match v.trim().parse::<f32>() {
                        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
                        _ => Err(PredictionsError::BadProbability { line, value: v.clone() }),
                    })
                    .collect::<Result<_, PredictionsError>>()?;
                let warnings = match row.last().filter(|_| with_warnings).map(|w| w.trim()) {
                    Some(w) if !w.is_empty() => w.split(WARNINGS_SEPARATOR).map(str::to_owned).collect(),
                    _ => Vec::new(),
                };
                Ok(PredictionRow {
                    path: row[0].trim().to_owned(),
                    probabilities,
                    warnings,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            comments: table.comments,
            labels,
            rows,
            with_warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_exactly() {
        let labels = vec!["No Finding".to_string(), "Edema".to_string()];
        let p = [0.123_456_79_f32, 1e-7];
        let provenance = serde_json::json!({"chexlens": "0.1.0", "members": 3});
        let text = format!(
            "{}\n{}\n{}\n",
            provenance_comment(&provenance),
            predictions_header(&labels),
            predictions_line("a,b/c.jpg", &p, Some(&[]))
        );
        let read = Predictions::parse(text.as_bytes(), Some(&labels)).unwrap();
        assert_eq!(read.rows[0].path, "a,b/c.jpg");
        assert_eq!(read.rows[0].probabilities, p);
        assert!(read.with_warnings && read.rows[0].warnings.is_empty());
        let comment = read.comments[0].strip_prefix("chexlens provenance ").unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(comment).unwrap(), provenance);
    }

    #[test]
    fn warnings_read_back_and_files_without_the_column_still_read() {
        let labels = vec!["Edema".to_string()];
        let warnings = [
            "a CT, not a chest radiograph".to_string(),
            "a colour image (RGB); radiographs are grey".to_string(),
        ];
        let text = format!(
            "{}\n{}\n",
            predictions_header(&labels),
            predictions_line("ct.dcm", &[0.25], Some(&warnings))
        );
        let read = Predictions::parse(text.as_bytes(), None).unwrap();
        assert_eq!(read.labels, labels);
        assert_eq!(read.rows[0].warnings, warnings);
        let old = Predictions::parse(b"Path,Edema\na.png,0.5\n", Some(&labels)).unwrap();
        assert!(!old.with_warnings);
        assert_eq!(old.rows[0].probabilities, [0.5]);
        assert_eq!(predictions_line("b.png", &[0.5], None), "b.png,0.5");
    }

    #[test]
    fn refuses_another_models_file_and_bad_values() {
        let labels = vec!["Edema".to_string()];
        assert!(matches!(
            Predictions::parse(b"Path,Flu\na.png,0.5\n", Some(&labels)),
            Err(PredictionsError::Header { .. })
        ));
        assert_eq!(
            Predictions::parse(b"Path,Edema\na.png,1.5\n", None)
                .unwrap_err()
                .to_string(),
            "line 2: '1.5' is not a probability"
        );
    }
}
