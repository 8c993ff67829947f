//! A labels CSV as the batch uses it: its rows found by path in constant
//! time (thousands of images each look theirs up), and their metadata.

use chexlens_chexpert::metadata::Metadata;
use chexlens_research::labelled::{LabelledImage, LabelledSet};
use std::collections::HashMap;

/// A parsed labels CSV, its name and text (kept with the batch), and its
/// rows by path and by file name.
#[derive(Debug, Clone, PartialEq)]
pub struct Labelled {
    pub name: String,
    pub text: String,
    pub set: LabelledSet,
    by_path: HashMap<String, usize>,
    /// The first row with each file name.
    by_name: HashMap<String, usize>,
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl Labelled {
    pub fn new(name: String, text: String, set: LabelledSet) -> Self {
        let mut by_path = HashMap::new();
        let mut by_name = HashMap::new();
        for (row, image) in set.images.iter().enumerate() {
            by_path.entry(image.path.clone()).or_insert(row);
            by_name.entry(file_name(&image.path).to_owned()).or_insert(row);
        }
        Self {
            name,
            text,
            set,
            by_path,
            by_name,
        }
    }

    /// The CSV row of a file: the same path, else the first row whose path
    /// ends in the same file name.
    pub fn row_for(&self, path: &str) -> Option<&LabelledImage> {
        let row = self
            .by_path
            .get(path)
            .copied()
            .or_else(|| self.by_name.get(file_name(path)).copied())?;
        self.set.images.get(row)
    }
}

/// The CSV's metadata over the model's defaults, as `chexlens evaluate` takes it.
pub fn csv_metadata(row: &LabelledImage, defaults: Metadata) -> Metadata {
    let m = row.metadata;
    Metadata {
        sex: m.sex.unwrap_or(defaults.sex),
        age: m.age.unwrap_or(defaults.age),
        view: m.view.unwrap_or(defaults.view),
        projection: m.projection.unwrap_or(defaults.projection),
    }
}
