//! One analysed image's objects: the series they go in, and what every
//! object carries (SOP Common, the study, equipment, its series) before it
//! is written as a Part 10 file.

use crate::elements::{Object, sequence, text};
use crate::{DicomOutError, Provenance, Source, Timestamp, codes, uid};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

/// The objects made for one analysed image: one SR and any number of
/// Secondary Captures, in two new series of the source's study.
pub struct ResultSeries {
    pub(crate) source: Source,
    pub(crate) provenance: Provenance,
    pub(crate) created: Timestamp,
    pub(crate) report_series: String,
    pub(crate) capture_series: String,
    /// Captures made so far: the next one's Instance Number.
    pub(crate) captures: u32,
}

impl ResultSeries {
    pub fn new(source: Source, provenance: Provenance, created: Timestamp) -> Result<Self, DicomOutError> {
        Ok(Self {
            source,
            provenance,
            created,
            report_series: uid::new_uid()?,
            capture_series: uid::new_uid()?,
            captures: 0,
        })
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    /// What every object has: SOP Common, the patient and study, General
    /// Equipment and its own series.
    pub(crate) fn common(
        &self,
        class_uid: &str,
        modality: &str,
        series: &str,
        series_number: &str,
    ) -> Result<Object, DicomOutError> {
        let mut obj = InMemDicomObject::new_empty();
        for element in [
            // Names typed anywhere in the world are written as UTF-8.
            text(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"),
            text(tags::SOP_CLASS_UID, VR::UI, class_uid),
            text(tags::SOP_INSTANCE_UID, VR::UI, &uid::new_uid()?),
            text(tags::INSTANCE_CREATION_DATE, VR::DA, &self.created.date),
            text(tags::INSTANCE_CREATION_TIME, VR::TM, &self.created.time),
            text(tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, Timestamp::OFFSET),
            text(tags::CONTENT_DATE, VR::DA, &self.created.date),
            text(tags::CONTENT_TIME, VR::TM, &self.created.time),
            text(tags::MODALITY, VR::CS, modality),
            text(tags::SERIES_INSTANCE_UID, VR::UI, series),
            text(tags::SERIES_NUMBER, VR::IS, series_number),
            text(
                tags::SERIES_DESCRIPTION,
                VR::LO,
                "chexlens research result, not a diagnosis",
            ),
            text(tags::MANUFACTURER, VR::LO, "chexlens"),
            text(
                tags::MANUFACTURER_MODEL_NAME,
                VR::LO,
                codes::meaning(&self.provenance.model),
            ),
            text(tags::SOFTWARE_VERSIONS, VR::LO, &self.provenance.version),
            coding_schemes(),
        ] {
            obj.put(element);
        }
        for element in self.source.study_elements() {
            obj.put(element);
        }
        Ok(obj)
    }

    /// The object as a Part 10 file, Explicit VR Little Endian.
    pub(crate) fn file(&self, obj: Object) -> Result<Vec<u8>, DicomOutError> {
        let write = |e: &dyn std::fmt::Display| DicomOutError::Write(e.to_string());
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .implementation_class_uid(uid::IMPLEMENTATION_CLASS_UID)
                    .implementation_version_name(format!("CHEXLENS_{}", self.provenance.version)),
            )
            .map_err(|e| write(&e))?;
        let mut bytes = Vec::new();
        file.write_all(&mut bytes).map_err(|e| write(&e))?;
        Ok(bytes)
    }
}

/// The private coding scheme declared, as PS3.3 C.12.1.1.4 asks.
fn coding_schemes() -> DataElement<Object> {
    let scheme = InMemDicomObject::from_element_iter([
        text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, codes::PRIVATE_SCHEME),
        text(tags::CODING_SCHEME_NAME, VR::ST, codes::PRIVATE_SCHEME_NAME),
        text(tags::CODING_SCHEME_RESPONSIBLE_ORGANIZATION, VR::ST, "chexlens"),
    ]);
    sequence(tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE, vec![scheme])
}
