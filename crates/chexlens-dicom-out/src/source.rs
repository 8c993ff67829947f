//! What the results share with the image they came from: its patient and
//! study (copied as the standard requires of objects in the same study,
//! nothing more) and the image's own UIDs, which the objects reference.

use crate::elements::text;
use crate::{DicomOutError, uid};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};

/// The Patient and General Study modules' Type 1 and 2 attributes: copied
/// from the source (empty where it lacks them), the study's UID aside.
const STUDY_ATTRIBUTES: [(Tag, VR); 9] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
    (tags::ACCESSION_NUMBER, VR::SH),
];

/// The analysed image, as the objects reference it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageReference {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub series_instance_uid: String,
    /// The source's Number of Frames (1 when it has none).
    pub frames: u32,
    /// The frame analysed, from 1.
    pub frame: u32,
}

impl ImageReference {
    /// The frame analysed, where the source has several (references then
    /// carry it as Referenced Frame Number).
    pub fn frame_number(&self) -> Option<u32> {
        (self.frames > 1).then_some(self.frame)
    }
}

/// The study the results join, and the image they are about when it is DICOM.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub study_instance_uid: String,
    /// The copied patient and study attributes, in `STUDY_ATTRIBUTES`' order.
    values: Vec<String>,
    /// `None` for a PNG or JPEG given a new study.
    pub image: Option<ImageReference>,
}

/// A UID the objects copy: it must be there, and be one (PS3.5 9.1: digits
/// and dots, at most 64 characters), or the objects written would not be.
fn required_uid(obj: &DefaultDicomObject, tag: Tag, name: &str) -> Result<String, DicomOutError> {
    let uid = value(obj, tag)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| DicomOutError::MissingInSource(name.to_owned()))?;
    if uid.len() > 64 || !uid.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(DicomOutError::BadSourceUid(name.to_owned()));
    }
    Ok(uid)
}

fn value(obj: &DefaultDicomObject, tag: Tag) -> Option<String> {
    let text = obj.get(tag)?.to_str().ok()?;
    Some(text.trim_end_matches(['\0', ' ']).to_owned())
}

/// A patient or study value as copied. CS, DA and TM hold ASCII only (the
/// character set covers text VRs alone): a value that is not is left empty,
/// as the attribute may be, rather than make the objects unwritable.
fn copied(obj: &DefaultDicomObject, tag: Tag, vr: VR) -> String {
    let value = value(obj, tag).unwrap_or_default();
    if matches!(vr, VR::CS | VR::DA | VR::TM) && !value.is_ascii() {
        return String::new();
    }
    value
}

impl Source {
    /// The study and image of a DICOM file (read within chexlens-images'
    /// bounds). Its UIDs must be there: results cannot join a study, or
    /// reference an image, that has none.
    pub fn from_dicom(bytes: &[u8]) -> Result<Self, DicomOutError> {
        let obj = chexlens_images::dicom::open(bytes).map_err(|e| DicomOutError::Source(e.to_string()))?;
        Self::from_object(&obj)
    }

    pub fn from_object(obj: &DefaultDicomObject) -> Result<Self, DicomOutError> {
        let image = ImageReference {
            sop_class_uid: required_uid(obj, tags::SOP_CLASS_UID, "SOP Class UID")?,
            sop_instance_uid: required_uid(obj, tags::SOP_INSTANCE_UID, "SOP Instance UID")?,
            series_instance_uid: required_uid(obj, tags::SERIES_INSTANCE_UID, "Series Instance UID")?,
            frames: obj
                .get(tags::NUMBER_OF_FRAMES)
                .and_then(|e| e.to_int::<u32>().ok())
                .unwrap_or(1)
                .max(1),
            frame: 1,
        };
        Ok(Self {
            study_instance_uid: required_uid(obj, tags::STUDY_INSTANCE_UID, "Study Instance UID")?,
            values: STUDY_ATTRIBUTES.iter().map(|&(tag, vr)| copied(obj, tag, vr)).collect(),
            image: Some(image),
        })
    }

    /// The results are of frame `frame` (from 1) of a multi-frame source.
    pub fn with_frame(mut self, frame: u32) -> Self {
        if let Some(image) = &mut self.image {
            image.frame = frame.clamp(1, image.frames);
        }
        self
    }

    /// A new study for an image that is not DICOM, under the patient ID
    /// (and name) the user gives; the other study attributes stay empty.
    pub fn new_study(patient_id: &str, patient_name: Option<&str>) -> Result<Self, DicomOutError> {
        check_given("patient ID", patient_id, 64)?;
        if let Some(name) = patient_name {
            check_given("patient name", name, 64)?;
        }
        let mut values = vec![String::new(); STUDY_ATTRIBUTES.len()];
        values[0] = patient_name.unwrap_or_default().to_owned();
        values[1] = patient_id.to_owned();
        Ok(Self {
            study_instance_uid: uid::new_uid()?,
            values,
            image: None,
        })
    }

    /// The Patient and General Study attributes every object carries.
    pub fn study_elements(&self) -> Vec<DataElement<InMemDicomObject>> {
        STUDY_ATTRIBUTES
            .iter()
            .zip(&self.values)
            .map(|(&(tag, vr), v)| text(tag, vr, v))
            .chain([text(tags::STUDY_INSTANCE_UID, VR::UI, &self.study_instance_uid)])
            .collect()
    }
}

/// A value typed by the user: within its VR's length, no backslash (DICOM's
/// value separator) and no control characters.
fn check_given(what: &str, value: &str, max: usize) -> Result<(), DicomOutError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || value.chars().count() > max || value.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(DicomOutError::BadValue(format!(
            "the {what} must be 1 to {max} characters, without a backslash or control characters"
        )));
    }
    Ok(())
}
