//! The batch's exports: the CLI's predictions CSV, a JSON of every result,
//! and a zip of every finding's overlay PNG, each with the model's provenance.

use super::{BatchState, ItemStatus};
use crate::app::download;
use crate::protocol::ModelInfo;
use crate::protocol::PREVIEW_SIZE;
use chexlens_formats::Thresholds;
use chexlens_formats::cam::OverlayBase;
use chexlens_formats::evaluation::{predictions_header, predictions_line, provenance_comment};
use chexlens_formats::export::{StoredZip, ZipError};
use leptos::prelude::*;
use serde_json::{Value, json};

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

/// The CLI's predictions file (`chexlens evaluate --predictions` reads it),
/// its provenance in a `#` line before the header.
pub fn export_csv(batch: BatchState, info: &ModelInfo, thresholds: &Thresholds) {
    let mut text = provenance_comment(&provenance(info, thresholds));
    text.push('\n');
    text.push_str(&predictions_header(&info.labels));
    for item in batch.items.get_untracked() {
        if let ItemStatus::Done(p) = &item.status {
            text.push('\n');
            text.push_str(&predictions_line(&item.path, p));
        }
    }
    text.push('\n');
    download::offer_text(&text, "text/csv", "chexlens-predictions.csv");
}

pub fn export_json(batch: BatchState, info: &ModelInfo, thresholds: &Thresholds) {
    let items = batch.items.get_untracked();
    let results: Vec<Value> = items
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let ItemStatus::Done(p) = &item.status else { return None };
            let maps = batch.maps.with_value(|m| m.get(index).cloned().flatten());
            let probabilities: serde_json::Map<String, Value> =
                info.labels.iter().zip(p).map(|(l, &v)| (l.clone(), json!(v))).collect();
            let mut findings: Vec<(usize, f32)> = thresholds
                .finding_indices(&info.labels, p)
                .into_iter()
                .map(|i| (i, p[i]))
                .collect();
            findings.sort_by(|a, b| b.1.total_cmp(&a.1));
            Some(json!({
                "image": item.path,
                "metadata": item.metadata,
                "probabilities": probabilities,
                "findings": findings.iter().map(|&(i, v)| {
                    let mut finding = json!({"label": info.labels[i], "probability": v});
                    // As `chexlens predict --json --cam` gives it: the map's rows.
                    if let Some(map) = maps.as_ref().and_then(|m| m.get(i)) {
                        finding["cam"] = json!(map.values.chunks(map.width).collect::<Vec<_>>());
                    }
                    finding
                }).collect::<Vec<_>>(),
                "members": info.members,
            }))
        })
        .collect();
    let failed: Vec<Value> = items
        .iter()
        .filter_map(|i| match &i.status {
            ItemStatus::Failed(e) => Some(json!({"image": i.path, "error": e})),
            _ => None,
        })
        .collect();
    let export = json!({"provenance": provenance(info, thresholds), "results": results, "failed": failed});
    let text = serde_json::to_string_pretty(&export).unwrap_or_default();
    download::offer_text(&text, "application/json", "chexlens-results.json");
}

/// Where an image's overlay goes in the zip: its folders (made safe), then
/// `<stem>_<label>.png` as `chexlens predict --cam` names it.
fn overlay_entry(path: &str, label: &str, keep_extension: bool) -> String {
    let segments: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        .collect();
    let (folders, name) = match segments.split_last() {
        Some((name, folders)) => (folders.join("/"), *name),
        None => (String::new(), "image"),
    };
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !keep_extension && !stem.is_empty() => stem,
        _ => name,
    };
    let folder = if folders.is_empty() {
        String::new()
    } else {
        format!("{folders}/")
    };
    format!(
        "overlays/{folder}{}",
        chexlens_formats::cam::overlay_file_name(stem, label)
    )
}

/// Lets the browser paint the export's progress between images.
async fn yield_to_browser() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Every finding's overlay (at the current thresholds) of every analysed
/// image, drawn as the image in view's are, in one zip with the provenance.
/// `progress` tells how far it is; the result says what was written.
pub async fn export_overlays(
    batch: BatchState,
    info: &ModelInfo,
    thresholds: &Thresholds,
    progress: RwSignal<String>,
) -> Result<String, String> {
    let items = batch.items.get_untracked();
    let with_maps: Vec<usize> = (0..items.len())
        .filter(|&i| matches!(items[i].status, ItemStatus::Done(_)) && batch.bytes_and_maps(i).is_some())
        .collect();
    let mut zip = StoredZip::new();
    let mut skipped = Vec::new();
    for (done, &index) in with_maps.iter().enumerate() {
        let item = &items[index];
        let ItemStatus::Done(p) = &item.status else { continue };
        let findings = thresholds.finding_indices(&info.labels, p);
        if findings.is_empty() {
            continue;
        }
        progress.set(format!("Drawing overlays: image {} of {}…", done + 1, with_maps.len()));
        yield_to_browser().await;
        let Some((bytes, maps)) = batch.bytes_and_maps(index) else {
            continue;
        };
        let image = match chexlens_formats::decode_xray(&bytes) {
            Ok(loaded) => loaded.image,
            Err(e) => {
                skipped.push(json!({"image": item.path, "error": e.to_string()}));
                continue;
            }
        };
        let base = OverlayBase::new(&image, Some(PREVIEW_SIZE));
        for label in findings {
            let Some(map) = maps.get(label) else { continue };
            let png = base.overlay_png(map)?;
            let name = overlay_entry(&item.path, &info.labels[label], false);
            match zip.add(&name, &png) {
                Err(ZipError::Duplicate(_)) => zip.add(&overlay_entry(&item.path, &info.labels[label], true), &png),
                other => other,
            }
            .map_err(|e| e.to_string())?;
        }
    }
    let files = zip.len();
    let about = json!({
        "provenance": provenance(info, thresholds),
        "overlays": format!("Grad-CAM (JET) over the image at half weight, fitted in {PREVIEW_SIZE} px; findings at the thresholds above"),
        "skipped": skipped,
    });
    zip.add(
        "provenance.json",
        serde_json::to_string_pretty(&about).unwrap_or_default().as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let archive = zip.finish().map_err(|e| e.to_string())?;
    download::offer_bytes(&archive, "application/zip", "chexlens-overlays.zip")?;
    Ok(format!(
        "{files} overlays from {} images saved ({})",
        with_maps.len(),
        crate::app::megabytes(archive.len() as u64)
    ))
}
