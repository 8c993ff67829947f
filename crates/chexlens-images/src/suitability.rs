//! Whether a file is the kind of image the model was trained on (a chest
//! radiograph), judged from the file alone: its DICOM attributes, colour
//! and shape. What is found is a [`Warning`] carried beside the result;
//! the model's own view (feature distance to reference radiographs) is
//! chexlens-reference's.

use crate::dicom::DicomSummary;
use crate::image::XrayImage;
use serde::{Deserialize, Serialize};

/// Why a result may not mean what it seems to.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WarningCode {
    /// A DICOM modality other than CR, DX or DR.
    NotRadiograph,
    /// A radiograph of another body part.
    NotChest,
    /// Raw detector values, not the processed image radiologists read.
    ForProcessing,
    /// A colour image: a colour DICOM, or a PNG/JPEG with strong chroma.
    Colour,
    /// A multi-frame image of a modality that is not a radiograph.
    MultiFrame,
    /// Far wider or taller than radiographs are.
    AspectRatio,
    /// The model's features lie far from the reference radiographs'.
    UnlikeReference,
    /// The file's compressed data is damaged; it was decoded as
    /// libjpeg-turbo (Pillow) decodes it, with what could not be read filled in.
    Damaged,
}

/// One warning: what kind, and a sentence naming the reason.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    pub code: WarningCode,
    pub message: String,
}

impl Warning {
    pub fn new(code: WarningCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Modalities that are projection radiographs (DR is not a standard
/// term, but some devices write it).
const RADIOGRAPH_MODALITIES: [&str; 3] = ["CR", "DX", "DR"];
/// SOP classes of radiographs stored "for processing" (DX, mammography,
/// intra-oral): raw detector values.
const FOR_PROCESSING_SOP_CLASSES: [&str; 3] = [
    "1.2.840.10008.5.1.4.1.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.2.1",
    "1.2.840.10008.5.1.4.1.1.1.3.1",
];
/// Widest and tallest shapes accepted (width / height): chest films are
/// 14x17 in either way round; CheXpert's images lie well inside.
const ASPECT_RANGE: std::ops::RangeInclusive<f64> = 0.5..=2.0;
/// A pixel is strongly coloured when its channels differ by more than
/// this; a tinted or colour-stored radiograph has next to none.
const STRONG_CHROMA: u8 = 48;
/// The share of strongly coloured pixels from which an image is a colour
/// photograph (the test photographs have 35% to 100%).
const COLOUR_SHARE: f64 = 0.05;

/// The warning for a JPEG (or a DICOM's JPEG frame) whose data is damaged,
/// `damage` naming how (libjpeg-turbo's words).
pub fn damaged(damage: &str) -> Warning {
    Warning::new(
        WarningCode::Damaged,
        format!(
            "the file is damaged ({damage}); it was decoded as Pillow (libjpeg-turbo) decodes it, \
             with the parts that could not be read filled in, so the image may differ from the original"
        ),
    )
}

/// Every warning the file itself gives: `dicom` is present for DICOM files.
pub fn file_warnings(image: &XrayImage, dicom: Option<&DicomSummary>) -> Vec<Warning> {
    let mut warnings = match dicom {
        Some(summary) => dicom_warnings(summary),
        None => colour_photograph(image).into_iter().collect(),
    };
    warnings.extend(aspect_ratio(image.width, image.height));
    warnings
}

fn dicom_warnings(summary: &DicomSummary) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let modality = summary.modality.as_deref().map(str::to_ascii_uppercase);
    let radiograph = modality.as_deref().is_none_or(|m| RADIOGRAPH_MODALITIES.contains(&m));
    let chest = summary.body_part.as_deref().is_none_or(is_chest);
    if let Some(m) = modality.as_deref().filter(|_| !radiograph) {
        let place = summary
            .body_part
            .as_deref()
            .filter(|_| !chest)
            .map(|part| format!(" of the {}", part.to_ascii_lowercase()))
            .unwrap_or_default();
        warnings.push(Warning::new(
            WarningCode::NotRadiograph,
            format!("{}{place}, not a chest radiograph", modality_phrase(m)),
        ));
    } else if let Some(part) = summary.body_part.as_deref().filter(|_| !chest) {
        warnings.push(Warning::new(
            WarningCode::NotChest,
            format!(
                "a radiograph of the {} (Body Part Examined), not of the chest",
                part.to_ascii_lowercase()
            ),
        ));
    }
    if is_for_processing(summary) {
        warnings.push(Warning::new(
            WarningCode::ForProcessing,
            "a \"for processing\" radiograph: raw detector values, not the processed image the model was trained on",
        ));
    }
    if is_colour_photometric(&summary.photometric) {
        warnings.push(Warning::new(
            WarningCode::Colour,
            format!("a colour image ({}); radiographs are grey", summary.photometric),
        ));
    }
    if summary.frames > 1 && (modality.is_none() || !radiograph) {
        warnings.push(Warning::new(
            WarningCode::MultiFrame,
            format!("one frame of {} (a series or a clip, not a radiograph)", summary.frames),
        ));
    }
    warnings
}

fn is_chest(part: &str) -> bool {
    let part = part.to_ascii_uppercase();
    ["CHEST", "THORAX", "LUNG"].iter().any(|p| part.contains(p))
}

fn is_for_processing(summary: &DicomSummary) -> bool {
    let intent = summary.presentation_intent.as_deref();
    intent.is_some_and(|i| i.eq_ignore_ascii_case("FOR PROCESSING"))
        || summary
            .sop_class_uid
            .as_deref()
            .is_some_and(|uid| FOR_PROCESSING_SOP_CLASSES.contains(&uid))
}

fn is_colour_photometric(photometric: &str) -> bool {
    !photometric.starts_with("MONOCHROME")
}

/// "a CT", "an MR image": the modality as a reader would say it.
fn modality_phrase(modality: &str) -> String {
    match modality {
        "CT" => "a CT".to_owned(),
        "MR" => "an MR image".to_owned(),
        "US" => "an ultrasound image".to_owned(),
        "NM" => "a nuclear medicine image".to_owned(),
        "PT" => "a PET image".to_owned(),
        "MG" => "a mammogram".to_owned(),
        "XA" => "an angiogram".to_owned(),
        "RF" => "a fluoroscopy image".to_owned(),
        "IO" => "an intra-oral radiograph".to_owned(),
        "PX" => "a panoramic dental radiograph".to_owned(),
        "OT" => "an image of modality OT (other)".to_owned(),
        other => format!("an image of modality {other}"),
    }
}

/// A PNG or JPEG whose pixels are strongly coloured: a photograph.
fn colour_photograph(image: &XrayImage) -> Option<Warning> {
    let [r, g, b] = image.planes.as_slice() else {
        return None;
    };
    let pixels = r.len().min(g.len()).min(b.len());
    if pixels == 0 {
        return None;
    }
    let strong = (0..pixels)
        .filter(|&i| {
            let (lo, hi) = (r[i].min(g[i]).min(b[i]), r[i].max(g[i]).max(b[i]));
            hi - lo > STRONG_CHROMA
        })
        .count();
    let share = strong as f64 / pixels as f64;
    (share > COLOUR_SHARE).then(|| {
        Warning::new(
            WarningCode::Colour,
            format!(
                "a colour photograph, not a radiograph ({:.0}% of its pixels are strongly coloured)",
                share * 100.0
            ),
        )
    })
}

fn aspect_ratio(width: usize, height: usize) -> Option<Warning> {
    if width == 0 || height == 0 {
        return None;
    }
    let ratio = width as f64 / height as f64;
    if ASPECT_RANGE.contains(&ratio) {
        return None;
    }
    let shape = if ratio > 1.0 {
        format!("{ratio:.1} times as wide as it is tall")
    } else {
        format!("{:.1} times as tall as it is wide", 1.0 / ratio)
    };
    Some(Warning::new(
        WarningCode::AspectRatio,
        format!("an image {shape}; radiographs are between 1:2 and 2:1"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(modality: Option<&str>, body_part: Option<&str>) -> DicomSummary {
        DicomSummary {
            transfer_syntax: "Explicit VR Little Endian".into(),
            modality: modality.map(Into::into),
            body_part: body_part.map(Into::into),
            photometric: "MONOCHROME2".into(),
            bits_stored: 12,
            width: 100,
            height: 100,
            frames: 1,
            frame: 1,
            windowing: String::new(),
            presentation_intent: None,
            sop_class_uid: None,
        }
    }

    fn grey(width: usize, height: usize) -> XrayImage {
        XrayImage {
            width,
            height,
            planes: vec![vec![100; width * height]],
        }
    }

    fn codes(warnings: &[Warning]) -> Vec<WarningCode> {
        warnings.iter().map(|w| w.code).collect()
    }

    #[test]
    fn chest_radiographs_pass_and_other_modalities_are_named() {
        let image = grey(100, 120);
        for ok in [
            summary(Some("CR"), Some("CHEST")),
            summary(Some("DX"), None),
            summary(None, None),
        ] {
            assert!(file_warnings(&image, Some(&ok)).is_empty(), "{ok:?}");
        }
        let head_ct = file_warnings(&image, Some(&summary(Some("CT"), Some("HEAD"))));
        assert_eq!(head_ct[0].message, "a CT of the head, not a chest radiograph");
        let chest_ct = file_warnings(&image, Some(&summary(Some("CT"), Some("CHEST"))));
        assert_eq!(chest_ct[0].message, "a CT, not a chest radiograph");
        let hand = file_warnings(&image, Some(&summary(Some("CR"), Some("HAND"))));
        assert_eq!(codes(&hand), [WarningCode::NotChest]);
        assert!(hand[0].message.contains("of the hand"));
    }

    #[test]
    fn for_processing_colour_and_frames() {
        let image = grey(100, 100);
        let mut raw = summary(Some("DX"), Some("CHEST"));
        raw.presentation_intent = Some("FOR PROCESSING".into());
        assert_eq!(codes(&file_warnings(&image, Some(&raw))), [WarningCode::ForProcessing]);
        raw.presentation_intent = None;
        raw.sop_class_uid = Some(FOR_PROCESSING_SOP_CLASSES[0].into());
        assert_eq!(codes(&file_warnings(&image, Some(&raw))), [WarningCode::ForProcessing]);

        let mut clip = summary(Some("US"), None);
        clip.photometric = "RGB".into();
        clip.frames = 30;
        assert_eq!(
            codes(&file_warnings(&image, Some(&clip))),
            [WarningCode::NotRadiograph, WarningCode::Colour, WarningCode::MultiFrame]
        );
        let mut series = summary(Some("DX"), None);
        series.frames = 3;
        assert!(file_warnings(&image, Some(&series)).is_empty());
    }

    #[test]
    fn shapes_outside_radiographs_are_named() {
        assert!(aspect_ratio(2000, 2400).is_none());
        assert!(aspect_ratio(1000, 500).is_none());
        let tall = aspect_ratio(256, 1024).unwrap();
        assert_eq!(
            tall.message,
            "an image 4.0 times as tall as it is wide; radiographs are between 1:2 and 2:1"
        );
    }

    #[test]
    fn tinted_images_are_not_photographs() {
        let tinted = XrayImage {
            width: 10,
            height: 10,
            planes: vec![vec![120; 100], vec![100; 100], vec![90; 100]],
        };
        assert!(file_warnings(&tinted, None).is_empty());
        let mut red = tinted.clone();
        red.planes[0][..10].fill(250);
        assert_eq!(codes(&file_warnings(&red, None)), [WarningCode::Colour]);
    }
}
