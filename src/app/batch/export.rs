//! The batch's exports: the CLI's predictions CSV, a JSON of every result,
//! a zip of every finding's overlay PNG and a zip of DICOM objects (each
//! DICOM's SR and overlays as Secondary Captures), each with the model's
//! provenance. Each is written as it is made (see [`crate::app::save`]):
//! the CSV from the table's rows, the JSON and the overlays from the
//! journal's results files, one file of results at a time, so that an
//! export of thousands of images holds a few of them in memory at once.

use super::BatchState;
use super::state::ItemStatus;
use crate::app::dicom_export::{label_results, now, stem};
use crate::app::save::{SaveStream, Saved};
use crate::app::{AppState, read_file, sleep};
use crate::protocol::{EXPORT_OVERLAY_SIZE, ModelInfo};
use chexlens_checkpoints::manifest::Thresholds;
use chexlens_dicom_out::{Provenance, ResultSeries, Source, capture_file_name, report_file_name};
use chexlens_images::cam::OverlayBase;
use chexlens_research::batch_results::Outcome;
use chexlens_research::evaluation::{predictions_header, predictions_line, provenance_comment};
use chexlens_research::export::{ZipError, ZipStream};
use leptos::prelude::*;
use serde_json::{Value, json};

/// Table rows written per piece.
const ROWS_PER_PIECE: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExportKind {
    Csv,
    Json,
    Overlays,
    Dicom,
}

impl ExportKind {
    fn file(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            ExportKind::Csv => ("chexlens-predictions.csv", "text/csv", ".csv", "Predictions CSV"),
            ExportKind::Json => ("chexlens-results.json", "application/json", ".json", "Results JSON"),
            ExportKind::Overlays => ("chexlens-overlays.zip", "application/zip", ".zip", "Overlays zip"),
            ExportKind::Dicom => ("chexlens-dicom.zip", "application/zip", ".zip", "DICOM objects (zip)"),
        }
    }
}

/// Where the exports' numbers came from.
fn provenance(info: &ModelInfo, thresholds: &Thresholds) -> Value {
    json!({
        "chexlens": env!("CARGO_PKG_VERSION"),
        "model": info.name,
        "demo": info.demo,
        "members": info.members,
        "member_sha256": info.member_sha256,
        "backend": info.backend.name(),
        "thresholds": thresholds,
        "input": info.input,
    })
}

/// An export's state: whether one runs, and its progress or outcome.
#[derive(Clone, Copy)]
pub struct Exports {
    pub running: RwSignal<bool>,
    pub status: RwSignal<String>,
}

impl Exports {
    pub fn new() -> Self {
        Self {
            running: RwSignal::new(false),
            status: RwSignal::new(String::new()),
        }
    }

    /// Starts an export of the batch's results (called from the click that
    /// asks for it: the browser lets only that open its file picker).
    pub fn start(self, state: AppState, kind: ExportKind) {
        let batch = state.batch;
        let Some(info) = batch.model.get_untracked() else {
            return;
        };
        let thresholds = info.thresholds.with_default(state.threshold.get_untracked());
        self.running.set(true);
        self.status.set(String::new());
        leptos::task::spawn_local(async move {
            let (name, mime, extension, description) = kind.file();
            let Some(mut out) = SaveStream::open(name, mime, extension, description).await else {
                self.running.set(false);
                return;
            };
            self.status.set(format!("Writing {name}…"));
            let written = match kind {
                ExportKind::Csv => write_csv(batch, &info, &thresholds, &mut out).await,
                ExportKind::Json => write_json(batch, &info, &thresholds, &mut out).await,
                ExportKind::Overlays => write_overlays(batch, &info, &thresholds, &mut out, self.status).await,
                ExportKind::Dicom => write_dicom(batch, &info, &thresholds, &mut out, self.status).await,
            };
            let outcome = match written {
                Ok(summary) => out.finish().await.map(|saved| (summary, saved)),
                Err(e) => {
                    out.abort().await;
                    Err(e)
                }
            };
            self.running.set(false);
            match outcome {
                Ok((summary, saved)) => {
                    let size = crate::protocol::megabytes(saved.bytes());
                    let how = match saved {
                        Saved::ToFile(_) => "written",
                        Saved::Downloaded(_) => "saved",
                    };
                    self.status.set(format!("{summary} {how} ({size})"));
                }
                Err(e) => {
                    self.status.set(String::new());
                    state.error.set(Some(format!("The export could not be made: {e}")));
                }
            }
        });
    }
}

/// The CLI's predictions file (`chexlens evaluate --predictions` reads it),
/// its provenance in a `#` line before the header.
async fn write_csv(
    batch: BatchState,
    info: &ModelInfo,
    thresholds: &Thresholds,
    out: &mut SaveStream,
) -> Result<String, String> {
    let mut head = provenance_comment(&provenance(info, thresholds));
    head.push('\n');
    head.push_str(&predictions_header(&info.labels));
    out.write_str(&head).await?;
    let total = batch.items.with_untracked(Vec::len);
    let mut rows = 0;
    for start in (0..total).step_by(ROWS_PER_PIECE) {
        let piece = batch.items.with_untracked(|items| {
            let mut piece = String::new();
            for item in items.iter().skip(start).take(ROWS_PER_PIECE) {
                if let ItemStatus::Done(p) = &item.status {
                    let warnings: Vec<String> = item.warnings.iter().map(|w| w.message.clone()).collect();
                    piece.push('\n');
                    piece.push_str(&predictions_line(&item.path, p, Some(&warnings)));
                    rows += 1;
                }
            }
            piece
        });
        out.write_str(&piece).await?;
    }
    out.write_str("\n").await?;
    Ok(format!("{rows} rows"))
}

/// Every result with its findings' heat maps, and every failure.
async fn write_json(
    batch: BatchState,
    info: &ModelInfo,
    thresholds: &Thresholds,
    out: &mut SaveStream,
) -> Result<String, String> {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    out.write_str(&format!(
        "{{\n\"provenance\": {},\n\"results\": [",
        pretty(&provenance(info, thresholds))
    ))
    .await?;
    let journal = batch.journal();
    journal.flushed().await;
    let mut results = 0;
    for segment in 0..journal.segments() {
        let (records, _) = journal.segment(segment, info.labels.len()).await;
        let mut piece = String::new();
        for record in records {
            let Outcome::Done { probabilities: p, maps } = &record.outcome else {
                continue;
            };
            let probabilities: serde_json::Map<String, Value> =
                info.labels.iter().zip(p).map(|(l, &v)| (l.clone(), json!(v))).collect();
            let mut findings: Vec<(usize, f32)> = thresholds
                .finding_indices(&info.labels, p)
                .into_iter()
                .map(|i| (i, p[i]))
                .collect();
            findings.sort_by(|a, b| b.1.total_cmp(&a.1));
            let result = json!({
                "image": record.path,
                "metadata": record.metadata,
                "probabilities": probabilities,
                "findings": findings.iter().map(|&(i, v)| {
                    let mut finding = json!({"label": info.labels[i], "probability": v});
                    // As `chexlens predict --json --cam` gives it: the map's rows.
                    if let Some(map) = maps.as_ref().and_then(|m| m.get(i)) {
                        finding["cam"] = json!(map.values.chunks(map.width.max(1)).collect::<Vec<_>>());
                    }
                    finding
                }).collect::<Vec<_>>(),
                "members": info.members,
                "warnings": record.warnings,
            });
            piece.push_str(if results == 0 { "\n" } else { ",\n" });
            piece.push_str(&pretty(&result));
            results += 1;
        }
        out.write_str(&piece).await?;
    }
    let failed: Vec<Value> = batch.items.with_untracked(|items| {
        items
            .iter()
            .filter_map(|i| match &i.status {
                ItemStatus::Failed(e) => Some(json!({"image": i.path, "error": e})),
                _ => None,
            })
            .collect()
    });
    out.write_str(&format!("\n],\n\"failed\": {}\n}}\n", pretty(&Value::Array(failed))))
        .await?;
    Ok(format!("{results} results"))
}

/// Where a file made of an image goes in the zip: `top`, the image's
/// folders (made safe), then the name `name` makes of its stem (of its
/// whole file name with `keep_extension`, where stems collide).
fn zip_entry(top: &str, path: &str, keep_extension: bool, name: impl Fn(&str) -> String) -> String {
    let segments: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .collect();
    let (folders, file) = match segments.split_last() {
        Some((file, folders)) => (folders.join("/"), *file),
        None => (String::new(), "image"),
    };
    let stem = if keep_extension { file } else { stem(file) };
    let folder = if folders.is_empty() {
        String::new()
    } else {
        format!("{folders}/")
    };
    format!("{top}/{folder}{}", name(stem))
}

/// Where an image's overlay goes: `<stem>_<label>.png` as `chexlens predict --cam` names it.
fn overlay_entry(path: &str, label: &str, keep_extension: bool) -> String {
    zip_entry("overlays", path, keep_extension, |stem| {
        chexlens_images::cam::overlay_file_name(stem, label)
    })
}

/// Adds `data` as `entry(false)`, or as `entry(true)` where another image's
/// stem took that name; returns the bytes for the zip.
fn add_entry(zip: &mut ZipStream, entry: impl Fn(bool) -> String, data: &[u8]) -> Result<Vec<u8>, String> {
    match zip.add(&entry(false), data) {
        Err(ZipError::Duplicate(_)) => zip.add(&entry(true), data),
        other => other,
    }
    .map_err(|e| e.to_string())
}

/// The file of a done record, read again; `Err` is the skipped entry to list.
async fn reread(batch: BatchState, record: &chexlens_research::batch_results::Record) -> Result<Vec<u8>, Value> {
    let Some(file) = batch.index_of(&record.path, record.size).and_then(|i| batch.file(i)) else {
        return Err(
            json!({"image": record.path, "error": "its file was not picked again after the page was reloaded"}),
        );
    };
    read_file(&file)
        .await
        .map_err(|e| json!({"image": record.path, "error": e}))
}

/// Images analysed so far in the batch.
fn analysed(batch: BatchState) -> usize {
    batch
        .items
        .with_untracked(|items| items.iter().filter(|i| matches!(i.status, ItemStatus::Done(_))).count())
}

/// Ends a zip export: `provenance.json` (`about`, with the files before it
/// and what was skipped), then the central directory. Returns the files
/// before the provenance.
async fn finish_zip(
    mut zip: ZipStream,
    out: &mut SaveStream,
    mut about: Value,
    skipped: Vec<Value>,
) -> Result<usize, String> {
    let files = zip.len();
    about["files"] = json!(files);
    about["skipped"] = Value::Array(skipped);
    let entry = zip
        .add(
            "provenance.json",
            serde_json::to_string_pretty(&about).unwrap_or_default().as_bytes(),
        )
        .map_err(|e| e.to_string())?;
    out.write(&entry).await?;
    out.write(&zip.finish()).await?;
    Ok(files)
}

/// Every finding's overlay (at the current thresholds) of every analysed
/// image, drawn as the image in view's are, each image's file read again
/// when its turn comes; the provenance goes last, with what the zip holds.
async fn write_overlays(
    batch: BatchState,
    info: &ModelInfo,
    thresholds: &Thresholds,
    out: &mut SaveStream,
    progress: RwSignal<String>,
) -> Result<String, String> {
    let journal = batch.journal();
    journal.flushed().await;
    let analysed = analysed(batch);
    let mut zip = ZipStream::new();
    let (mut seen, mut images, mut skipped) = (0, 0, Vec::new());
    for segment in 0..journal.segments() {
        let (records, _) = journal.segment(segment, info.labels.len()).await;
        for record in records {
            let Outcome::Done { probabilities: p, maps } = &record.outcome else {
                continue;
            };
            seen += 1;
            let Some(maps) = maps.as_ref() else { continue };
            images += 1;
            let findings = thresholds.finding_indices(&info.labels, p);
            if findings.is_empty() {
                continue;
            }
            progress.set(format!("Drawing overlays: image {seen} of {analysed}…"));
            sleep(0).await;
            let image = match reread(batch, &record).await.and_then(|bytes| {
                chexlens_images::input::decode_xray(&bytes)
                    .map(|loaded| loaded.image)
                    .map_err(|e| json!({"image": record.path, "error": e.to_string()}))
            }) {
                Ok(image) => image,
                Err(skip) => {
                    skipped.push(skip);
                    continue;
                }
            };
            let base = OverlayBase::new(&image, Some(EXPORT_OVERLAY_SIZE));
            drop(image);
            for label in findings {
                let Some(map) = maps.get(label) else { continue };
                let png = base.overlay_png(map)?;
                let entry = add_entry(
                    &mut zip,
                    |keep| overlay_entry(&record.path, &info.labels[label], keep),
                    &png,
                )?;
                out.write(&entry).await?;
            }
        }
    }
    let contents = format!(
        "Grad-CAM (JET) over the image at half weight, fitted in {EXPORT_OVERLAY_SIZE} px; findings at the thresholds above"
    );
    let about = json!({"provenance": provenance(info, thresholds), "overlays": contents, "images": images});
    let files = finish_zip(zip, out, about, skipped).await?;
    Ok(format!("{files} overlays from {images} images"))
}

/// Each analysed DICOM's SR and its findings' overlays as Secondary
/// Captures (chexlens-dicom-out, as the single image's "Export DICOM"),
/// under `dicom/` by the image's folders, each file read again when its
/// turn comes; images that are not DICOM are listed as skipped in the
/// provenance, which goes last.
async fn write_dicom(
    batch: BatchState,
    info: &ModelInfo,
    thresholds: &Thresholds,
    out: &mut SaveStream,
    progress: RwSignal<String>,
) -> Result<String, String> {
    let journal = batch.journal();
    journal.flushed().await;
    let analysed = analysed(batch);
    let mut zip = ZipStream::new();
    let (mut seen, mut images, mut skipped) = (0, 0, Vec::new());
    for segment in 0..journal.segments() {
        let (records, _) = journal.segment(segment, info.labels.len()).await;
        for record in records {
            let Outcome::Done { probabilities: p, maps } = &record.outcome else {
                continue;
            };
            seen += 1;
            progress.set(format!("Writing DICOM: image {seen} of {analysed}…"));
            sleep(0).await;
            let skip = |error: String| json!({"image": record.path, "error": error});
            let bytes = match reread(batch, &record).await {
                Ok(bytes) if chexlens_images::dicom::is_dicom(&bytes) => bytes,
                Ok(_) => {
                    skipped.push(skip("not a DICOM file, so its results join no study".into()));
                    continue;
                }
                Err(e) => {
                    skipped.push(e);
                    continue;
                }
            };
            let source = match Source::from_dicom(&bytes) {
                Ok(source) => source,
                Err(e) => {
                    skipped.push(skip(e.to_string()));
                    continue;
                }
            };
            let provenance = Provenance::new(
                &info.name,
                info.demo,
                info.member_sha256.clone(),
                &record.metadata,
                &info.input,
            );
            let mut series = ResultSeries::new(source, provenance, now()).map_err(|e| e.to_string())?;
            let warnings: Vec<String> = record.warnings.iter().map(|w| w.message.clone()).collect();
            let report = series
                .report(&label_results(&info.labels, p, thresholds), &warnings)
                .map_err(|e| e.to_string())?;
            let path = record.path.as_str();
            let entry = |keep| zip_entry("dicom", path, keep, report_file_name);
            out.write(&add_entry(&mut zip, entry, &report)?).await?;
            images += 1;
            let findings = thresholds.finding_indices(&info.labels, p);
            let Some(maps) = maps.as_ref().filter(|_| !findings.is_empty()) else {
                continue;
            };
            let image = match chexlens_images::input::decode_xray(&bytes) {
                Ok(loaded) => loaded.image,
                Err(e) => {
                    skipped.push(skip(format!("its overlays: {e}")));
                    continue;
                }
            };
            drop(bytes);
            let base = OverlayBase::new(&image, Some(EXPORT_OVERLAY_SIZE));
            drop(image);
            for index in findings {
                let (Some(map), Some(label)) = (maps.get(index), info.labels.get(index)) else {
                    continue;
                };
                let capture = series
                    .capture(label, &base.overlay_rgb(map), base.width, base.height)
                    .map_err(|e| e.to_string())?;
                let entry = |keep| zip_entry("dicom", path, keep, |stem| capture_file_name(stem, label));
                out.write(&add_entry(&mut zip, entry, &capture)?).await?;
            }
        }
    }
    let contents = format!(
        "per DICOM image: <stem>_report.dcm, a Comprehensive SR (TID 1500) of every label, and <stem>_<label>.dcm, each finding's overlay (fitted in {EXPORT_OVERLAY_SIZE} px) as a Secondary Capture; research results, not a diagnosis"
    );
    let about = json!({"provenance": provenance(info, thresholds), "dicom": contents, "images": images});
    let files = finish_zip(zip, out, about, skipped).await?;
    let plural = if images == 1 { "" } else { "s" };
    Ok(format!("{files} DICOM objects from {images} image{plural}"))
}
