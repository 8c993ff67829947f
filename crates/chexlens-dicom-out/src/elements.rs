//! Data elements as dicom-rs builds them: text of a given VR, coded
//! concepts, sequences. Every object chexlens writes is made of these.

use crate::codes::Code;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

pub type Object = InMemDicomObject;

/// An element holding one string value (empty for an empty Type 2 element).
pub fn text(tag: Tag, vr: VR, value: &str) -> DataElement<Object> {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

/// A sequence of items.
pub fn sequence(tag: Tag, items: Vec<Object>) -> DataElement<Object> {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

/// A coded concept as an item: Code Value, Coding Scheme Designator, Code Meaning.
pub fn code_item(code: &Code) -> Object {
    InMemDicomObject::from_element_iter([
        text(tags::CODE_VALUE, VR::SH, code.value),
        text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, code.scheme),
        text(tags::CODE_MEANING, VR::LO, code.meaning),
    ])
}

/// A sequence holding one coded concept (Concept Name Code Sequence and the like).
pub fn code_sequence(tag: Tag, code: &Code) -> DataElement<Object> {
    sequence(tag, vec![code_item(code)])
}

/// A Decimal String of at most 16 characters that reads back as `value`
/// (the shortest form that does; exponent form for very small numbers).
pub fn decimal_string(value: f32) -> String {
    let plain = format!("{value}");
    if plain.len() <= 16 {
        return plain;
    }
    format!("{value:e}")
}

/// A reference to an instance: Referenced SOP Class and Instance UIDs, and
/// the frame (from 1) where it is one of several.
pub fn sop_reference(class_uid: &str, instance_uid: &str, frame: Option<u32>) -> Object {
    let mut reference = InMemDicomObject::from_element_iter([
        text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, class_uid),
        text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, instance_uid),
    ]);
    if let Some(frame) = frame {
        reference.put(text(tags::REFERENCED_FRAME_NUMBER, VR::IS, &frame.to_string()));
    }
    reference
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_sixteen_characters_and_read_back() {
        for value in [
            0.0f32,
            1.0,
            0.5,
            0.734_123_5,
            1.0e-7,
            3.402_823e-38,
            0.999_999_94,
            f32::MIN_POSITIVE,
        ] {
            let ds = decimal_string(value);
            assert!(ds.len() <= 16, "{ds}");
            assert_eq!(ds.parse::<f32>().unwrap(), value, "{ds}");
        }
    }
}
