//! `chexlens predict --dicom-out DIR`: each image's results as DICOM objects
//! of its study (chexlens-dicom-out): `<stem>_report.dcm`, a Comprehensive
//! SR of every label, and `<stem>_<label>.dcm`, a Secondary Capture of each
//! heat map's overlay at the image's own size.

use crate::model_source::LoadedModel;
use crate::predict::AnalysedImage;
use chexlens_checkpoints::manifest::Thresholds;
use chexlens_dicom_out::{
    LabelResult, Provenance, ResultSeries, Source, Timestamp, capture_file_name, report_file_name,
};
use chexlens_images::cam::OverlayBase;
use std::path::{Path, PathBuf};

/// Where the objects go, and the patient of a new study for images that
/// are not DICOM (`--patient-id`, `--patient-name`).
pub struct DicomOut {
    pub dir: PathBuf,
    pub patient_id: Option<String>,
    pub patient_name: Option<String>,
    /// Each member's weights sha256, hashed once where no manifest gave it.
    member_sha256: Vec<Option<String>>,
}

impl DicomOut {
    pub fn new(
        dir: PathBuf,
        patient_id: Option<String>,
        patient_name: Option<String>,
        model: &LoadedModel,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {} ({e})", dir.display()))?;
        let member_sha256 = model
            .member_files
            .iter()
            .map(|(file, sha256)| match sha256 {
                Some(sha) => Ok(Some(sha.to_ascii_lowercase())),
                None => sha256_of(file).map(Some),
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            dir,
            patient_id,
            patient_name,
            member_sha256,
        })
    }

    /// Writes `image`'s report and one capture per heat map; returns their paths.
    pub fn write(
        &self,
        image: &Path,
        analysis: &AnalysedImage,
        model: &LoadedModel,
        thresholds: &Thresholds,
    ) -> Result<Vec<PathBuf>, String> {
        let source = self.source(image, analysis)?;
        let provenance = Provenance::new(
            &model.name,
            model.demo,
            self.member_sha256.clone(),
            &analysis.metadata,
            &model.ensemble.settings.input,
        )
        .with_heat_maps(analysis.cam_settings);
        let mut series = ResultSeries::new(source, provenance, now()).map_err(|e| e.to_string())?;
        let prediction = &analysis.prediction;
        let results: Vec<LabelResult> = prediction
            .labels
            .iter()
            .zip(&prediction.probabilities)
            .map(|(label, &probability)| LabelResult {
                label: label.clone(),
                probability,
                threshold: thresholds.for_label(label),
            })
            .collect();
        let warnings: Vec<String> = analysis.assessment.warnings.iter().map(|w| w.message.clone()).collect();
        let stem = image
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "image".into());
        let mut written = vec![self.put(&report_file_name(&stem), &series.report(&results, &warnings))?];
        let base = OverlayBase::new(&analysis.image, None);
        for (label, map) in &analysis.cams {
            let rgb = base.overlay_rgb(map);
            let object = series.capture(label, &rgb, base.width, base.height);
            written.push(self.put(&capture_file_name(&stem, label), &object)?);
        }
        Ok(written)
    }

    fn source(&self, image: &Path, analysis: &AnalysedImage) -> Result<Source, String> {
        if let Some(dicom) = &analysis.dicom {
            let bytes =
                crate::files::read_bounded(image, chexlens_images::image::MAX_FILE_BYTES).map_err(|e| e.to_string())?;
            let source = Source::from_dicom(&bytes).map_err(|e| e.to_string())?;
            return Ok(source.with_frame(dicom.summary.frame));
        }
        match &self.patient_id {
            Some(id) => Source::new_study(id, self.patient_name.as_deref()).map_err(|e| e.to_string()),
            None => Err(
                "not a DICOM file, so its results join no study: give --patient-id to write them as a new study".into(),
            ),
        }
    }

    fn put(&self, name: &str, object: &Result<Vec<u8>, chexlens_dicom_out::DicomOutError>) -> Result<PathBuf, String> {
        let bytes = object.as_ref().map_err(|e| e.to_string())?;
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {} ({e})", path.display()))?;
        Ok(path)
    }
}

fn now() -> Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Timestamp::from_unix_seconds(seconds)
}

/// A weight file's sha256, read in pieces.
fn sha256_of(file: &Path) -> Result<String, String> {
    use std::io::Read;
    let fail = |e: std::io::Error| format!("{}: {e}", file.display());
    let mut reader = std::fs::File::open(file).map_err(fail)?;
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut piece = vec![0u8; chexlens_checkpoints::weights::READ_PIECE_BYTES];
    loop {
        match reader.read(&mut piece) {
            Ok(0) => break,
            Ok(n) => sha2::Digest::update(&mut hasher, &piece[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(fail(e)),
        }
    }
    Ok(sha2::Digest::finalize(hasher)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
