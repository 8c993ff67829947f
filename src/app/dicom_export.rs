//! "Export DICOM" for the DICOM image in view: its Comprehensive SR and its
//! heat maps' overlays (as shown, at preview size, the image at half weight)
//! as Secondary Captures of its study, written by chexlens-dicom-out as the
//! CLI's `--dicom-out` writes them, in one zip. Only DICOM images: a PNG or
//! JPEG has no study for the results to join.

use super::save::{SaveStream, Saved};
use super::{AnalysisStatus, AppState, Preview};
use chexlens_dicom_out::{
    LabelResult, Provenance, ResultSeries, Source, Timestamp, capture_file_name, report_file_name,
};
use chexlens_images::cam::CamMap;
use chexlens_research::export::ZipStream;
use leptos::prelude::*;

/// The page's clock, as DICOM dates and times in UTC.
pub fn now() -> Timestamp {
    Timestamp::from_unix_seconds((js_sys::Date::now() / 1000.0) as i64)
}

/// `name` without its extension, as the objects' file names begin.
pub fn stem(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => name,
    }
}

/// Every label's probability with the threshold it was judged at.
pub fn label_results(
    labels: &[String],
    probabilities: &[f32],
    thresholds: &chexlens_checkpoints::manifest::Thresholds,
) -> Vec<LabelResult> {
    labels
        .iter()
        .zip(probabilities)
        .map(|(label, &probability)| LabelResult {
            label: label.clone(),
            probability,
            threshold: thresholds.for_label(label),
        })
        .collect()
}

/// A heat map over the preview as the page's PNG download draws it at its
/// default opacity: RGB.
fn overlay_rgb(preview: &Preview, map: &CamMap) -> Vec<u8> {
    super::heatmaps::composite(preview, Some(map), 0.5, false)
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// The zip to save: its name, and its files (the report, then each
/// overlay) by name.
struct DicomZip {
    name: String,
    files: Vec<(String, Vec<u8>)>,
}

fn objects(state: AppState) -> Result<DicomZip, String> {
    let (Some(image), Some(info), Some(preview)) = (
        state.image.get_untracked(),
        state.model_info_untracked(),
        state.preview.get_untracked(),
    ) else {
        return Err("there is no analysed image".into());
    };
    let AnalysisStatus::Done {
        probabilities,
        metadata,
        warnings,
        ..
    } = state.analysis.get_untracked()
    else {
        return Err("the image is not analysed yet".into());
    };
    // The frame shown and analysed, from 1.
    let source = Source::from_dicom(&image.bytes)
        .map_err(|e| e.to_string())?
        .with_frame(image.frame + 1);
    let provenance = Provenance::new(
        &info.name,
        info.demo,
        info.member_sha256.clone(),
        &metadata,
        &info.input,
    )
    .with_heat_maps(state.cam_settings.get_untracked());
    let mut series = ResultSeries::new(source, provenance, now()).map_err(|e| e.to_string())?;
    let thresholds = info.thresholds.with_default(state.threshold.get_untracked());
    let warnings: Vec<String> = warnings.iter().map(|w| w.message.clone()).collect();
    let stem = stem(&image.name).to_owned();
    let report = series
        .report(&label_results(&info.labels, &probabilities, &thresholds), &warnings)
        .map_err(|e| e.to_string())?;
    let mut files = vec![(report_file_name(&stem), report)];
    let mut maps = state.heatmaps.get_untracked();
    maps.sort_by_key(|(i, _)| *i);
    for (index, map) in maps {
        let Some(label) = info.labels.get(index) else { continue };
        let object = series
            .capture(label, &overlay_rgb(&preview, &map), preview.width, preview.height)
            .map_err(|e| e.to_string())?;
        files.push((capture_file_name(&stem, label), object));
    }
    Ok(DicomZip {
        name: format!("{stem}-dicom.zip"),
        files,
    })
}

async fn save(name: &str, files: Vec<(String, Vec<u8>)>) -> Result<Option<Saved>, String> {
    let Some(mut out) = SaveStream::open(name, "application/zip", ".zip", "DICOM objects (zip)").await else {
        return Ok(None);
    };
    let mut zip = ZipStream::new();
    for (entry, bytes) in &files {
        match zip.add(entry, bytes) {
            Ok(piece) => out.write(&piece).await?,
            Err(e) => {
                out.abort().await;
                return Err(e.to_string());
            }
        }
    }
    out.write(&zip.finish()).await?;
    out.finish().await.map(Some)
}

#[component]
pub fn DicomExport() -> impl IntoView {
    let state = expect_context::<AppState>();
    let status = RwSignal::new(String::new());
    let running = RwSignal::new(false);
    // Heat maps still being made would be missing from the export.
    let maps_pending = move || state.heatmaps_requested.with(Vec::len) > state.heatmaps.with(Vec::len);
    let ready = move || {
        matches!(state.analysis.get(), AnalysisStatus::Done { .. })
            && !state.withheld()
            && !maps_pending()
            && !running.get()
    };
    let export = move |_| {
        running.set(true);
        status.set(String::new());
        leptos::task::spawn_local(async move {
            let outcome = match objects(state) {
                Ok(zip) => {
                    let count = zip.files.len();
                    save(&zip.name, zip.files).await.map(|saved| saved.map(|s| (count, s)))
                }
                Err(e) => Err(e),
            };
            running.set(false);
            match outcome {
                Ok(Some((count, saved))) => status.set(format!(
                    "A report and {} overlay{} saved ({})",
                    count - 1,
                    if count == 2 { "" } else { "s" },
                    crate::protocol::megabytes(saved.bytes())
                )),
                Ok(None) => {}
                Err(e) => state
                    .error
                    .set(Some(format!("The DICOM export could not be made: {e}"))),
            }
        });
    };
    view! {
        <Show when=move || state.dicom.with(Option::is_some)>
            <div class="dicom-export">
                <button type="button" data-testid="export-dicom" prop:disabled=move || !ready()
                    title="A DICOM Structured Report of every probability and decision, and the heat maps as Secondary Capture images, in this image's study (a research result, not a diagnosis)"
                    on:click=export>"Export DICOM…"</button>
                <span class="hint" role="status" data-testid="export-dicom-status">{move || status.get()}</span>
            </div>
        </Show>
    }
}
