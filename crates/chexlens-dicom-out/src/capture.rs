//! A heat-map overlay as a Secondary Capture image: 8-bit RGB, derived
//! from the source image, which it references.

use crate::elements::{Object, sequence, sop_reference, text};
use crate::{CAPTURE_SERIES_NUMBER, DicomOutError, RESEARCH_STATEMENT, ResultSeries};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};

/// Rows and Columns are 16-bit: a larger overlay cannot be written.
const MAX_SIDE: usize = u16::MAX as usize;

impl ResultSeries {
    /// A Secondary Capture of `label`'s overlay (RGB, `width` x `height`).
    pub fn capture(&mut self, label: &str, rgb: &[u8], width: usize, height: usize) -> Result<Vec<u8>, DicomOutError> {
        self.captures += 1;
        secondary_capture(self, label, rgb, width, height)
    }
}

fn secondary_capture(
    series: &ResultSeries,
    label: &str,
    rgb: &[u8],
    width: usize,
    height: usize,
) -> Result<Vec<u8>, DicomOutError> {
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE || rgb.len() != width * height * 3 {
        return Err(DicomOutError::BadValue(format!(
            "an overlay of {width}x{height} pixels ({} bytes) cannot be a Secondary Capture",
            rgb.len()
        )));
    }
    let mut obj = series.common(
        uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
        "OT",
        &series.capture_series,
        CAPTURE_SERIES_NUMBER,
    )?;
    let maps = series.provenance.heat_maps;
    let description = format!(
        "{} heat map of {label} at {} (JET colours, 0 blue to 1 red) over the image at half weight, by {}",
        maps.method.title(),
        maps.layer.module(),
        series.provenance.algorithm_name()
    );
    let mut elements: Vec<DataElement<Object>> = vec![
        text(tags::CONVERSION_TYPE, VR::CS, "WSD"),
        text(tags::INSTANCE_NUMBER, VR::IS, &series.captures.to_string()),
        text(tags::PATIENT_ORIENTATION, VR::CS, ""),
        // The chest is not a paired body part: no Laterality.
        text(tags::BODY_PART_EXAMINED, VR::CS, "CHEST"),
        DataElement::new(
            tags::IMAGE_TYPE,
            VR::CS,
            PrimitiveValue::Strs(["DERIVED".into(), "SECONDARY".into()].into()),
        ),
        text(tags::DERIVATION_DESCRIPTION, VR::ST, &description),
        text(tags::IMAGE_COMMENTS, VR::LT, RESEARCH_STATEMENT),
        text(tags::BURNED_IN_ANNOTATION, VR::CS, "NO"),
        text(tags::DATE_OF_SECONDARY_CAPTURE, VR::DA, &series.created.date),
        text(tags::TIME_OF_SECONDARY_CAPTURE, VR::TM, &series.created.time),
        DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(3u16)),
        text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB"),
        DataElement::new(tags::PLANAR_CONFIGURATION, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(height as u16)),
        DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(width as u16)),
        DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16)),
        DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16)),
        DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(7u16)),
        DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(padded(rgb))),
    ];
    if let Some(image) = &series.source.image {
        elements.push(sequence(
            tags::SOURCE_IMAGE_SEQUENCE,
            vec![sop_reference(
                &image.sop_class_uid,
                &image.sop_instance_uid,
                image.frame_number(),
            )],
        ));
    }
    for element in elements {
        obj.put(element);
    }
    series.file(obj)
}

/// Pixel Data of even length, as every DICOM value is.
fn padded(rgb: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(rgb.len() + 1);
    data.extend_from_slice(rgb);
    if data.len() % 2 == 1 {
        data.push(0);
    }
    data
}
