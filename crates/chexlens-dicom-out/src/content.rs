//! SR content items (PS3.3 C.17.3): each a relationship to its parent, a
//! value type, a concept name and its value, children in a Content Sequence.

use crate::ImageReference;
use crate::codes::Code;
use crate::elements::{Object, code_sequence, decimal_string, sequence, sop_reference, text};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

#[derive(Debug, Clone, Copy)]
pub enum Relationship {
    Contains,
    HasConceptMod,
    HasObsContext,
}

impl Relationship {
    fn term(self) -> &'static str {
        match self {
            Relationship::Contains => "CONTAINS",
            Relationship::HasConceptMod => "HAS CONCEPT MOD",
            Relationship::HasObsContext => "HAS OBS CONTEXT",
        }
    }
}

/// The parts every content item has; the root container has no relationship.
fn item(relationship: Option<Relationship>, value_type: &str, name: &Code) -> Object {
    let mut item = InMemDicomObject::new_empty();
    if let Some(r) = relationship {
        item.put(text(tags::RELATIONSHIP_TYPE, VR::CS, r.term()));
    }
    item.put(text(tags::VALUE_TYPE, VR::CS, value_type));
    item.put(code_sequence(tags::CONCEPT_NAME_CODE_SEQUENCE, name));
    item
}

/// The template a container follows, from the DICOM Content Mapping Resource.
pub fn template(identifier: &str) -> DataElement<Object> {
    sequence(
        tags::CONTENT_TEMPLATE_SEQUENCE,
        vec![InMemDicomObject::from_element_iter([
            text(tags::MAPPING_RESOURCE, VR::CS, "DCMR"),
            text(tags::TEMPLATE_IDENTIFIER, VR::CS, identifier),
        ])],
    )
}

/// A container whose children are read as one whole (CONTINUOUS).
pub fn container(relationship: Relationship, name: &Code, template_id: Option<&str>, children: Vec<Object>) -> Object {
    let mut item = item(Some(relationship), "CONTAINER", name);
    item.put(text(tags::CONTINUITY_OF_CONTENT, VR::CS, "CONTINUOUS"));
    if let Some(id) = template_id {
        item.put(template(id));
    }
    item.put(sequence(tags::CONTENT_SEQUENCE, children));
    item
}

/// The root container's own attributes, which sit in the data set itself.
pub fn root(name: &Code, template_id: &str, children: Vec<Object>) -> Vec<DataElement<Object>> {
    item(None, "CONTAINER", name)
        .into_iter()
        .chain([
            text(tags::CONTINUITY_OF_CONTENT, VR::CS, "CONTINUOUS"),
            template(template_id),
            sequence(tags::CONTENT_SEQUENCE, children),
        ])
        .collect()
}

pub fn text_item(relationship: Relationship, name: &Code, value: &str) -> Object {
    let mut item = item(Some(relationship), "TEXT", name);
    item.put(text(tags::TEXT_VALUE, VR::UT, value));
    item
}

pub fn code_item(relationship: Relationship, name: &Code, value: &Code) -> Object {
    let mut item = item(Some(relationship), "CODE", name);
    item.put(code_sequence(tags::CONCEPT_CODE_SEQUENCE, value));
    item
}

pub fn uid_item(relationship: Relationship, name: &Code, uid: &str) -> Object {
    let mut item = item(Some(relationship), "UIDREF", name);
    item.put(text(tags::UID, VR::UI, uid));
    item
}

/// A number with its unit: the decimal string, and the exact value as a
/// double (Floating Point Value), so readers get the model's f32 exactly.
pub fn num_item(relationship: Relationship, name: &Code, value: f32, unit: &Code) -> Object {
    let mut item = item(Some(relationship), "NUM", name);
    let measured = InMemDicomObject::from_element_iter([
        code_sequence(tags::MEASUREMENT_UNITS_CODE_SEQUENCE, unit),
        DataElement::new(
            tags::FLOATING_POINT_VALUE,
            VR::FD,
            PrimitiveValue::from(f64::from(value)),
        ),
        text(tags::NUMERIC_VALUE, VR::DS, &decimal_string(value)),
    ]);
    item.put(sequence(tags::MEASURED_VALUE_SEQUENCE, vec![measured]));
    item
}

pub fn image_item(relationship: Relationship, name: &Code, image: &ImageReference) -> Object {
    let mut item = item(Some(relationship), "IMAGE", name);
    let reference = sop_reference(&image.sop_class_uid, &image.sop_instance_uid, image.frame_number());
    item.put(sequence(tags::REFERENCED_SOP_SEQUENCE, vec![reference]));
    item
}
