//! DICOM Part 10 files: a frame (the first unless asked) as the 8-bit image the model's
//! preprocessing expects, and the patient and view tags that fill the
//! metadata. Pure Rust (dicom-rs), so the same code runs in the browser.
//!
//! Steps, in order (README, "DICOM"):
//! 1. Find `DICM` at byte 128 (standard preamble) or byte 0 (no preamble).
//! 2. Read the file meta group; refuse a transfer syntax without a decoder,
//!    naming it, before anything else is read.
//! 3. Check Rows x Columns against the image size limit before decoding.
//! 4. Decode one frame only: the first unless another is asked for
//!    (multi-frame files get a notice naming the frame used).
//! 5. Stored values: masked to Bits Stored, sign-extended if signed.
//! 6. Grey images: rescale slope/intercept, then the first VOI window
//!    (LINEAR, LINEAR_EXACT or SIGMOID), else the first VOI LUT, else the
//!    frame's full range; MONOCHROME1 inverted; rounded half up to 0..=255.
//!    Colour images (RGB, YBR_FULL) keep their three planes.

mod error;
mod frame_header;
mod jpeg2000;
mod jpeg_frames;
mod lengths;
mod pixels;
mod rle;
mod tags;

pub use error::DicomError;
pub use pixels::{GreyDisplay, SampleFormat, StoredFrame, Voi};
pub use tags::{DicomTags, map_view_position, parse_age_string};

use crate::image::{MAX_PIXELS, MAX_SIDE, XrayImage};
use crate::levels::{DecodedWith, GreyLevels, LevelsInfo, LevelsSource, NamedWindow};
use crate::window::{Window, WindowFunction};
use dicom_dictionary_std::tags as tag;
use dicom_object::{DefaultDicomObject, OpenFileOptions, file::ReadPreamble, meta::FileMetaTable};
use dicom_pixeldata::{PhotometricInterpretation, PixelDecoder, PixelRepresentation, PlanarConfiguration};
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use serde::{Deserialize, Serialize};

/// The JPEG transfer syntaxes decoded: baseline, extended (chexlens's own
/// decoder), lossless (process 14 and its first-order prediction form,
/// through dicom-rs), JPEG-LS lossless and near-lossless (chexlens's own).
const JPEG_FAMILY: [&str; 6] = [
    jpeg_frames::BASELINE,
    jpeg_frames::EXTENDED,
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    jpeg_frames::LS_LOSSLESS,
    jpeg_frames::LS_NEAR_LOSSLESS,
];

/// What a DICOM file is, for the user to check (no identifying tags).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DicomSummary {
    pub transfer_syntax: String,
    pub modality: Option<String>,
    pub body_part: Option<String>,
    pub photometric: String,
    pub bits_stored: u16,
    pub width: usize,
    pub height: usize,
    pub frames: u32,
    /// The frame analysed, from 1.
    #[serde(default = "first")]
    pub frame: u32,
    /// How the grey values were windowed (empty for colour images).
    pub windowing: String,
    /// Presentation Intent Type: `FOR PRESENTATION` or `FOR PROCESSING`.
    #[serde(default)]
    pub presentation_intent: Option<String>,
    #[serde(default)]
    pub sop_class_uid: Option<String>,
}

fn first() -> u32 {
    1
}

impl DicomSummary {
    /// What the file is, in one line: "DICOM CR CHEST · 2048×2500 · 12 bits
    /// MONOCHROME1 · JPEG 2000". No identifying tag is ever part of it.
    pub fn describe(&self) -> String {
        let what: Vec<&str> = [self.modality.as_deref(), self.body_part.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let frame = if self.frames > 1 {
            format!(" · frame {} of {}", self.frame, self.frames)
        } else {
            String::new()
        };
        format!(
            "DICOM {} · {}×{} · {} bits {} · {}{frame}",
            what.join(" "),
            self.width,
            self.height,
            self.bits_stored,
            self.photometric,
            self.transfer_syntax
        )
    }
}

/// A decoded DICOM radiograph.
#[derive(Debug, Clone)]
pub struct DicomXray {
    pub image: XrayImage,
    pub tags: DicomTags,
    pub summary: DicomSummary,
    /// Things the user should know (which of several frames, no window...).
    pub notices: Vec<String>,
    /// A grey frame's stored values, where they were asked for.
    pub levels: Option<GreyLevels>,
    /// What was damaged in a JPEG frame's data, if anything.
    pub damage: Option<String>,
}

/// Whether the bytes carry the DICM magic of a Part 10 file.
pub fn is_dicom(bytes: &[u8]) -> bool {
    dicm_offset(bytes).is_some()
}

fn dicm_offset(bytes: &[u8]) -> Option<usize> {
    if bytes.len() >= 132 && &bytes[128..132] == b"DICM" {
        Some(128)
    } else if bytes.starts_with(b"DICM") {
        Some(0)
    } else {
        None
    }
}

/// Reads a DICOM file held in memory, refusing unsupported transfer
/// syntaxes by name before the data set is parsed.
pub fn open(bytes: &[u8]) -> Result<DefaultDicomObject, DicomError> {
    let start = dicm_offset(bytes).ok_or(DicomError::NotDicom)?;
    let data_set = lengths::check_meta(bytes, start + 4)?;
    let meta = FileMetaTable::from_reader(&bytes[start..]).map_err(|e| DicomError::Corrupt(error::short(&e)))?;
    let uid = meta.transfer_syntax().trim_end_matches(['\0', ' ']).to_owned();
    if uid == DEFLATED {
        lengths::check_data_set(
            &lengths::inflate(&bytes[data_set..])?,
            0,
            lengths::Encoding::ExplicitLittle,
        )?;
    } else {
        lengths::check_data_set(bytes, data_set, lengths::Encoding::of(&uid))?;
    }
    match TransferSyntaxRegistry.get(&uid) {
        Some(ts) if ts.can_decode_all() || jpeg2000::is_jpeg2000(&uid) || jpeg_frames::is_jpeg_ls(&uid) => {}
        Some(ts) => {
            return Err(DicomError::UnsupportedTransferSyntax {
                name: ts.name().to_owned(),
                uid,
            });
        }
        None => {
            return Err(DicomError::UnsupportedTransferSyntax {
                name: "(unknown)".to_owned(),
                uid,
            });
        }
    }
    OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(&bytes[start..])
        .map_err(|e| DicomError::Corrupt(error::short(&e)))
}

use tags::text;

/// The first value of a numeric (DS/IS) element.
fn first_number(obj: &DefaultDicomObject, t: dicom_core::Tag) -> Option<f64> {
    obj.get(t)?.to_multi_float64().ok()?.first().copied()
}

fn int(obj: &DefaultDicomObject, t: dicom_core::Tag) -> Option<u32> {
    obj.get(t)?.to_int::<u32>().ok()
}

/// A frame as decoded, before any display transform, plus how to display
/// it. Public so that tests can compare stored values with pydicom.
pub struct DecodedFrame {
    pub stored: StoredFrame,
    /// What was damaged in a JPEG frame's data (decoded as libjpeg-turbo does).
    pub damage: Option<String>,
    pub photometric: PhotometricInterpretation,
    pub display: GreyDisplay,
    pub frames: u32,
    pub windows_in_file: usize,
}

/// A compressed frame's fragments: its own one when each frame has one,
/// all of them in a single-frame file; `None` when several frames share
/// fragments without a fragment per frame.
fn frame_fragments(fragments: &[Vec<u8>], frames: u32, index: u32) -> Option<&[Vec<u8>]> {
    if frames <= 1 {
        Some(fragments)
    } else if fragments.len() == frames as usize {
        fragments.get(index as usize..=index as usize)
    } else {
        None
    }
}

/// Frame `index` (from 0) as decoded, before any display transform.
pub fn decode_frame(obj: &DefaultDicomObject, index: u32) -> Result<DecodedFrame, DicomError> {
    let tags = FrameTags::checked(obj, index)?;
    let uid = obj.meta().transfer_syntax().trim_end_matches(['\0', ' ']).to_owned();
    let uid = uid.as_str();
    let fragments = obj
        .get(tag::PIXEL_DATA)
        .and_then(|e| e.value().fragments())
        .unwrap_or(&[]);
    let encapsulated = !fragments.is_empty();
    let own_fragments = frame_fragments(fragments, tags.frames, index);
    if encapsulated && own_fragments.is_none() && index > 0 {
        return Err(DicomError::Decode(format!(
            "its {} frames are split over {} fragments; only the first frame of such a file can be read",
            tags.frames,
            fragments.len()
        )));
    }
    // Where the frame's header is: its first fragment (the file's first
    // for the first frame of a file without a fragment per frame).
    let header = own_fragments
        .and_then(|f| f.first())
        .or(fragments.first())
        .map_or(&[][..], Vec::as_slice);
    tags.check_header(uid, header)?;
    let (stored, damage) = decode_stored(obj, uid, index, &tags, own_fragments, header)?;
    let photometric = decoded_photometric(obj, uid, &stored)?;
    let windows_in_file = obj
        .get(tag::WINDOW_CENTER)
        .and_then(|e| e.to_multi_float64().ok())
        .map_or(0, |v| v.len());
    Ok(DecodedFrame {
        display: grey_display(obj, &photometric),
        stored,
        damage,
        photometric,
        frames: tags.frames,
        windows_in_file,
    })
}

/// The tags that size a frame and say how its samples are stored.
struct FrameTags {
    rows: u32,
    columns: u32,
    frames: u32,
    samples_per_pixel: u32,
    bits_allocated: u32,
    bits_stored: u32,
}

impl FrameTags {
    /// The tags of frame `index`, each checked before anything is decoded.
    fn checked(obj: &DefaultDicomObject, index: u32) -> Result<Self, DicomError> {
        if obj.get(tag::PIXEL_DATA).is_none() {
            return Err(DicomError::NoPixelData);
        }
        let (rows, columns) = (int(obj, tag::ROWS).unwrap_or(0), int(obj, tag::COLUMNS).unwrap_or(0));
        if rows == 0 || columns == 0 {
            return Err(DicomError::ZeroSize);
        }
        if rows > MAX_SIDE || columns > MAX_SIDE || rows as u64 * columns as u64 > MAX_PIXELS {
            return Err(DicomError::TooLarge {
                width: columns,
                height: rows,
                max_mp: MAX_PIXELS / 1_000_000,
            });
        }
        let frames = int(obj, tag::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
        if index >= frames {
            return Err(DicomError::NoSuchFrame {
                asked: index.saturating_add(1),
                frames,
            });
        }
        // What the decoders will allocate follows from these tags (and, for
        // compressed frames, from the frame's own header): check them first.
        let samples_per_pixel = int(obj, tag::SAMPLES_PER_PIXEL).unwrap_or(1);
        if samples_per_pixel != 1 && samples_per_pixel != 3 {
            return Err(DicomError::Corrupt(format!(
                "it has {samples_per_pixel} samples per pixel; images have 1 (grey) or 3 (colour)"
            )));
        }
        let bits_allocated = int(obj, tag::BITS_ALLOCATED).unwrap_or(0);
        let bits_stored = int(obj, tag::BITS_STORED).unwrap_or(bits_allocated);
        if !matches!(bits_allocated, 8 | 16) || bits_stored == 0 || bits_stored > bits_allocated {
            return Err(DicomError::UnsupportedBits {
                allocated: bits_allocated.min(u16::MAX.into()) as u16,
                stored: bits_stored.min(u16::MAX.into()) as u16,
            });
        }
        Ok(Self {
            rows,
            columns,
            frames,
            samples_per_pixel,
            bits_allocated,
            bits_stored,
        })
    }

    /// A compressed frame's own header against the tags, before its
    /// decoder allocates what the header says.
    fn check_header(&self, uid: &str, header: &[u8]) -> Result<(), DicomError> {
        let (columns, rows, samples_per_pixel) = (self.columns, self.rows, self.samples_per_pixel);
        if JPEG_FAMILY.contains(&uid) {
            frame_header::check(frame_header::jpeg(header), "JPEG", columns, rows, samples_per_pixel)?;
        } else if uid == RLE {
            frame_header::check_rle(header, columns, rows, samples_per_pixel * self.bits_allocated / 8)?;
        } else if jpeg2000::is_jpeg2000(uid) {
            frame_header::check(
                frame_header::jpeg2000(header),
                "JPEG 2000",
                columns,
                rows,
                samples_per_pixel,
            )?;
        }
        Ok(())
    }

    /// How the samples of chexlens's own decoders are stored, as the tags say.
    fn format(&self, obj: &DefaultDicomObject) -> SampleFormat {
        SampleFormat {
            samples_per_pixel: self.samples_per_pixel as usize,
            bits_allocated: self.bits_allocated as u16,
            bits_stored: self.bits_stored as u16,
            signed: int(obj, tag::PIXEL_REPRESENTATION) == Some(1),
            planar: false,
        }
    }
}

/// The frame's stored values, from the codec its transfer syntax names:
/// chexlens's own for RLE, JPEG, JPEG-LS and JPEG 2000, dicom-rs's for the
/// rest.
fn decode_stored(
    obj: &DefaultDicomObject,
    uid: &str,
    index: u32,
    tags: &FrameTags,
    own_fragments: Option<&[Vec<u8>]>,
    header: &[u8],
) -> Result<(StoredFrame, Option<String>), DicomError> {
    let (columns, rows) = (tags.columns as usize, tags.rows as usize);
    if uid == RLE {
        let format = tags.format(obj);
        let data = rle::decode_frame(
            header,
            columns,
            rows,
            tags.samples_per_pixel as usize,
            tags.bits_allocated as usize / 8,
        )?;
        Ok((StoredFrame::from_decoded(&data, columns, rows, format)?, None))
    } else if jpeg2000::is_jpeg2000(uid) || jpeg_frames::is_dct(uid) || jpeg_frames::is_jpeg_ls(uid) {
        let format = tags.format(obj);
        let codestream = match own_fragments {
            Some([one]) => std::borrow::Cow::Borrowed(one.as_slice()),
            Some(several) => std::borrow::Cow::Owned(several.concat()),
            None => {
                return Err(DicomError::Decode(
                    "multi-frame compressed data with frames split over several fragments".into(),
                ));
            }
        };
        let (data, damage) = decode_codestream(obj, uid, &codestream, &format)?;
        Ok((StoredFrame::from_decoded(&data, columns, rows, format)?, damage))
    } else {
        Ok((decode_with_dicom_rs(obj, index)?, None))
    }
}

/// A JPEG, JPEG-LS or JPEG 2000 codestream into samples of the tags' format.
fn decode_codestream(
    obj: &DefaultDicomObject,
    uid: &str,
    codestream: &[u8],
    format: &SampleFormat,
) -> Result<(Vec<u8>, Option<String>), DicomError> {
    if jpeg_frames::is_dct(uid) {
        let photometric = text(obj, tag::PHOTOMETRIC_INTERPRETATION);
        let ybr = matches!(photometric.as_deref(), Some("YBR_FULL" | "YBR_FULL_422"));
        jpeg_frames::decode_dct(codestream, format.bits_allocated, ybr)
    } else if jpeg_frames::is_jpeg_ls(uid) {
        Ok((jpeg_frames::decode_ls(codestream, format.bits_allocated)?, None))
    } else {
        Ok((
            jpeg2000::decode_frame(codestream, format.bits_allocated, format.bits_stored, format.signed)?,
            None,
        ))
    }
}

/// Frame `index` of a transfer syntax that dicom-rs decodes (native, deflated,
/// JPEG lossless), with the format it reports.
fn decode_with_dicom_rs(obj: &DefaultDicomObject, index: u32) -> Result<StoredFrame, DicomError> {
    let decoded = obj
        .decode_pixel_data_frame(index)
        .map_err(|e| DicomError::Decode(error::short(&e)))?;
    StoredFrame::from_decoded(
        decoded
            .frame_data(0)
            .map_err(|e| DicomError::Decode(error::short(&e)))?,
        decoded.columns() as usize,
        decoded.rows() as usize,
        SampleFormat {
            samples_per_pixel: decoded.samples_per_pixel() as usize,
            bits_allocated: decoded.bits_allocated(),
            bits_stored: decoded.bits_stored(),
            signed: decoded.pixel_representation() == PixelRepresentation::Signed,
            planar: decoded.planar_configuration() == PlanarConfiguration::PixelFirst,
        },
    )
}

/// What the decoded values are: the file's photometric interpretation,
/// except where the codec has already turned colour into RGB.
fn decoded_photometric(
    obj: &DefaultDicomObject,
    uid: &str,
    stored: &StoredFrame,
) -> Result<PhotometricInterpretation, DicomError> {
    Ok(match text(obj, tag::PHOTOMETRIC_INTERPRETATION).as_deref() {
        Some("MONOCHROME1") => PhotometricInterpretation::Monochrome1,
        Some("MONOCHROME2") => PhotometricInterpretation::Monochrome2,
        // Colour codecs (JPEG, JPEG 2000's RCT/ICT) hand back RGB.
        Some("YBR_FULL")
            if uid == EXPLICIT_LE || uid == IMPLICIT_LE || uid == BIG_ENDIAN || uid == DEFLATED || uid == RLE =>
        {
            PhotometricInterpretation::YbrFull
        }
        Some("RGB" | "YBR_FULL" | "YBR_FULL_422" | "YBR_ICT" | "YBR_RCT") if stored.samples_per_pixel == 3 => {
            PhotometricInterpretation::Rgb
        }
        Some(other) => PhotometricInterpretation::from(other.to_owned()),
        None => return Err(DicomError::UnsupportedPhotometric("(missing)".into())),
    })
}

/// How a grey frame's stored values become display values: rescale, VOI,
/// and MONOCHROME1's inversion.
fn grey_display(obj: &DefaultDicomObject, photometric: &PhotometricInterpretation) -> GreyDisplay {
    GreyDisplay {
        slope: first_number(obj, tag::RESCALE_SLOPE)
            .filter(|s| *s != 0.0)
            .unwrap_or(1.0),
        intercept: first_number(obj, tag::RESCALE_INTERCEPT).unwrap_or(0.0),
        voi: voi_from_tags(obj),
        invert: *photometric == PhotometricInterpretation::Monochrome1,
    }
}

const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
const RLE: &str = "1.2.840.10008.1.2.5";

/// The first VOI window (LINEAR, LINEAR_EXACT or SIGMOID), else the first
/// VOI LUT Sequence item, else the full range.
fn voi_from_tags(obj: &DefaultDicomObject) -> Voi {
    if let (Some(center), Some(width)) = (
        first_number(obj, tag::WINDOW_CENTER),
        first_number(obj, tag::WINDOW_WIDTH),
    ) && width > 0.0
    {
        let function = match text(obj, tag::VOILUT_FUNCTION)
            .map(|f| f.to_ascii_uppercase())
            .as_deref()
        {
            Some("LINEAR_EXACT") => WindowFunction::LinearExact,
            Some("SIGMOID") => WindowFunction::Sigmoid,
            _ => WindowFunction::Linear,
        };
        return Voi::Window {
            center,
            width,
            function,
        };
    }
    let lut = obj
        .get(tag::VOILUT_SEQUENCE)
        .and_then(|e| e.items())
        .and_then(|items| items.first())
        .and_then(|item| {
            let descriptor = item.get(tag::LUT_DESCRIPTOR)?.to_multi_int::<i32>().ok()?;
            let data: Vec<u16> = item.get(tag::LUT_DATA)?.uint16_slice().ok()?.to_vec();
            let [entries, first, bits] = descriptor[..] else {
                return None;
            };
            // 0 entries means 65536; the first mapped value may be signed.
            let entries = if entries == 0 { 65_536 } else { entries as usize };
            (data.len() == entries && (1..=16).contains(&bits)).then_some(Voi::Lut {
                first: if first > 32_767 { first - 65_536 } else { first },
                bits: bits as u8,
                data,
            })
        });
    lut.unwrap_or(Voi::FullRange)
}

/// Decodes a DICOM file's first frame into the image the model sees, its
/// tags and notices.
pub fn decode_dicom(bytes: &[u8]) -> Result<DicomXray, DicomError> {
    decode_dicom_frame(bytes, 0)
}

/// As [`decode_dicom`], for frame `index` (from 0).
pub fn decode_dicom_frame(bytes: &[u8], index: u32) -> Result<DicomXray, DicomError> {
    decode(bytes, index, false)
}

/// As [`decode_dicom_frame`], keeping a grey frame's stored values for the viewer.
pub fn decode_dicom_frame_with_levels(bytes: &[u8], index: u32) -> Result<DicomXray, DicomError> {
    decode(bytes, index, true)
}

/// Every window the file offers (Window Center and Width are multi-valued),
/// named by its explanation where it gives one.
fn file_windows(obj: &DefaultDicomObject, display: &GreyDisplay) -> Vec<NamedWindow> {
    let numbers = |t| obj.get(t).and_then(|e| e.to_multi_float64().ok()).unwrap_or_default();
    let explanations: Vec<String> = text(obj, tag::WINDOW_CENTER_WIDTH_EXPLANATION)
        .map(|t| t.split('\\').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    let function = match display.voi {
        Voi::Window { function, .. } => function,
        _ => WindowFunction::Linear,
    };
    numbers(tag::WINDOW_CENTER)
        .into_iter()
        .zip(numbers(tag::WINDOW_WIDTH))
        .filter(|(_, width)| *width > 0.0)
        .enumerate()
        .map(|(i, (center, width))| NamedWindow {
            name: match explanations.get(i).filter(|e| !e.is_empty()) {
                Some(e) => format!("File: {e}"),
                None => format!("File window {}", i + 1),
            },
            window: Window {
                center,
                width,
                function,
            },
        })
        .collect()
}

fn grey_levels(obj: &DefaultDicomObject, stored: &StoredFrame, display: &GreyDisplay) -> GreyLevels {
    let modality = text(obj, tag::MODALITY);
    let unit = text(obj, tag::RESCALE_TYPE)
        .filter(|t| !t.is_empty())
        .or_else(|| (modality.as_deref() == Some("CT")).then(|| "HU".to_owned()));
    let info = LevelsInfo {
        source: LevelsSource::Dicom,
        width: stored.width,
        height: stored.height,
        bits_stored: stored.bits_stored,
        signed: stored.signed,
        slope: display.slope,
        intercept: display.intercept,
        unit,
        file_windows: file_windows(obj, display),
        invert: display.invert,
        decoded_with: match display.voi {
            Voi::Window {
                center,
                width,
                function,
            } => DecodedWith::Window(Window {
                center,
                width,
                function,
            }),
            Voi::FullRange => DecodedWith::FullRange,
            Voi::Lut { .. } => DecodedWith::Lut,
        },
    };
    GreyLevels::new(info, stored.values.iter().copied())
}

fn decode(bytes: &[u8], index: u32, with_levels: bool) -> Result<DicomXray, DicomError> {
    let obj = open(bytes)?;
    let frame = decode_frame(&obj, index)?;
    let DecodedFrame {
        stored,
        damage,
        photometric,
        display,
        frames,
        windows_in_file,
    } = frame;
    let (width, height) = (stored.width, stored.height);
    let mut notices = Vec::new();
    if frames > 1 {
        let which = if index == 0 {
            "the first".to_owned()
        } else {
            format!("frame {}", index + 1)
        };
        notices.push(format!("the file has {frames} frames; {which} is analysed"));
    }
    let mut levels = None;
    let (planes, windowing) = match (&photometric, stored.samples_per_pixel) {
        (PhotometricInterpretation::Monochrome1 | PhotometricInterpretation::Monochrome2, 1) => {
            if windows_in_file > 1 {
                notices.push(format!("the file offers {windows_in_file} windows; the first is used"));
            }
            if display.voi == Voi::FullRange {
                notices.push("the file gives no window; the image's full range is shown".to_owned());
            }
            let mut windowing = display.voi.describe();
            if display.invert {
                windowing.push_str(", MONOCHROME1 inverted");
            }
            if with_levels {
                levels = Some(grey_levels(&obj, &stored, &display));
            }
            (vec![display.to_8bit(&stored.values)], windowing)
        }
        (PhotometricInterpretation::Rgb, 3) => (colour_planes(&stored, |p| p), String::new()),
        (PhotometricInterpretation::YbrFull, 3) if stored.bits_stored <= 8 => (
            colour_planes(&stored, |p| {
                let rgb = pixels::ybr_full_to_rgb(p[0], p[1], p[2]);
                [rgb[0] as i32, rgb[1] as i32, rgb[2] as i32]
            }),
            String::new(),
        ),
        (other, _) => return Err(DicomError::UnsupportedPhotometric(other.to_string())),
    };
    let transfer_syntax = {
        let uid = obj.meta().transfer_syntax().trim_end_matches(['\0', ' ']);
        TransferSyntaxRegistry
            .get(uid)
            .map_or(uid.to_owned(), |ts| ts.name().to_owned())
    };
    Ok(DicomXray {
        image: XrayImage { width, height, planes },
        tags: tags::read_tags(&obj),
        summary: DicomSummary {
            transfer_syntax,
            modality: text(&obj, tag::MODALITY),
            body_part: text(&obj, tag::BODY_PART_EXAMINED),
            photometric: photometric.to_string(),
            bits_stored: stored.bits_stored,
            width,
            height,
            frames,
            frame: index + 1,
            windowing,
            presentation_intent: text(&obj, tag::PRESENTATION_INTENT_TYPE),
            sop_class_uid: text(&obj, tag::SOP_CLASS_UID),
        },
        notices,
        levels,
        damage,
    })
}

/// Colour samples to three 8-bit planes; 16-bit samples map their full
/// range as PNG's do.
fn colour_planes(stored: &StoredFrame, convert: impl Fn([i32; 3]) -> [i32; 3]) -> Vec<Vec<u8>> {
    let scale = |v: i32| -> u8 {
        if stored.bits_stored <= 8 {
            v.clamp(0, 255) as u8
        } else {
            let top = (1i64 << stored.bits_stored) - 1;
            ((v.max(0) as i64 * 255 + top / 2) / top) as u8
        }
    };
    let mut planes: Vec<Vec<u8>> = (0..3)
        .map(|_| Vec::with_capacity(stored.width * stored.height))
        .collect();
    for p in stored.values.chunks_exact(3) {
        let rgb = convert([p[0], p[1], p[2]]);
        for (plane, v) in planes.iter_mut().zip(rgb) {
            plane.push(scale(v));
        }
    }
    planes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_with_and_without_preamble() {
        let mut with = vec![0u8; 128];
        with.extend_from_slice(b"DICM");
        assert!(is_dicom(&with));
        assert!(is_dicom(b"DICM\x02\x00"));
        assert!(!is_dicom(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(decode_dicom(b"not dicom").unwrap_err(), DicomError::NotDicom);
    }
}
