//! The Comprehensive SR: a TID 1500 Measurement Report whose Imaging
//! Measurements hold one TID 1501 group per label (its probability and
//! decision threshold as TID 300 measurements, its decision as a
//! qualitative evaluation, the algorithm as TID 4019), the source image in
//! the Image Library, and the research statement and warnings as
//! Qualitative Evaluations.

use crate::codes::{self, Code};
use crate::content::{Relationship, code_item, container, image_item, num_item, root, text_item, uid_item};
use crate::elements::{Object, sequence, text};
use crate::{DicomOutError, LabelResult, REPORT_SERIES_NUMBER, RESEARCH_STATEMENT, ResultSeries, uid};
use Relationship::{Contains, HasConceptMod, HasObsContext};
use dicom_core::VR;
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;

impl ResultSeries {
    /// The Comprehensive SR of the labels' results, with the warnings the
    /// user was shown beside them.
    pub fn report(&self, results: &[LabelResult], warnings: &[String]) -> Result<Vec<u8>, DicomOutError> {
        structured_report(self, results, warnings)
    }
}

fn structured_report(
    series: &ResultSeries,
    results: &[LabelResult],
    warnings: &[String],
) -> Result<Vec<u8>, DicomOutError> {
    let mut obj = series.common(
        uids::COMPREHENSIVE_SR_STORAGE,
        "SR",
        &series.report_series,
        REPORT_SERIES_NUMBER,
    )?;
    for element in [
        text(tags::INSTANCE_NUMBER, VR::IS, "1"),
        sequence(tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, Vec::new()),
        // Made by a program and checked by no one.
        text(tags::COMPLETION_FLAG, VR::CS, "COMPLETE"),
        text(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED"),
        text(tags::PRELIMINARY_FLAG, VR::CS, "PRELIMINARY"),
        sequence(tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, Vec::new()),
    ] {
        obj.put(element);
    }
    if let Some(image) = &series.source.image {
        obj.put(evidence(series, image));
    }
    for element in root(
        &codes::IMAGING_MEASUREMENT_REPORT,
        "1500",
        content(series, results, warnings)?,
    ) {
        obj.put(element);
    }
    series.file(obj)
}

/// Current Requested Procedure Evidence: the instance the report is about.
fn evidence(series: &ResultSeries, image: &crate::ImageReference) -> dicom_core::DataElement<Object> {
    let referenced_series = InMemDicomObject::from_element_iter([
        sequence(
            tags::REFERENCED_SOP_SEQUENCE,
            // The hierarchical reference names instances, never frames.
            vec![crate::elements::sop_reference(
                &image.sop_class_uid,
                &image.sop_instance_uid,
                None,
            )],
        ),
        text(tags::SERIES_INSTANCE_UID, VR::UI, &image.series_instance_uid),
    ]);
    let study = InMemDicomObject::from_element_iter([
        sequence(tags::REFERENCED_SERIES_SEQUENCE, vec![referenced_series]),
        text(tags::STUDY_INSTANCE_UID, VR::UI, &series.source.study_instance_uid),
    ]);
    sequence(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE, vec![study])
}

/// The root container's children, in TID 1500's order.
fn content(series: &ResultSeries, results: &[LabelResult], warnings: &[String]) -> Result<Vec<Object>, DicomOutError> {
    let mut items = vec![
        code_item(HasConceptMod, &codes::LANGUAGE, &codes::ENGLISH_US),
        code_item(HasObsContext, &codes::OBSERVER_TYPE, &codes::DEVICE),
        uid_item(
            HasObsContext,
            &codes::DEVICE_OBSERVER_UID,
            crate::uid::IMPLEMENTATION_CLASS_UID,
        ),
        text_item(HasObsContext, &codes::DEVICE_OBSERVER_NAME, "chexlens"),
        text_item(HasObsContext, &codes::DEVICE_OBSERVER_MANUFACTURER, "chexlens"),
        code_item(HasConceptMod, &codes::PROCEDURE_REPORTED, &codes::CHEST_X_RAY),
    ];
    if let Some(image) = &series.source.image {
        let entry = image_item(Contains, &codes::SOURCE_OF_MEASUREMENT, image);
        let group = container(Contains, &codes::IMAGE_LIBRARY_GROUP, None, vec![entry]);
        items.push(container(Contains, &codes::IMAGE_LIBRARY, None, vec![group]));
    }
    let groups = results
        .iter()
        .enumerate()
        .map(|(position, result)| measurement_group(series, position, result))
        .collect::<Result<Vec<_>, _>>()?;
    items.push(container(Contains, &codes::IMAGING_MEASUREMENTS, None, groups));
    let statements = std::iter::once(RESEARCH_STATEMENT.to_owned())
        .chain(warnings.iter().map(|w| format!("Warning: {w}")))
        .map(|t| text_item(Contains, &codes::COMMENT, &t))
        .collect();
    items.push(container(Contains, &codes::QUALITATIVE_EVALUATIONS, None, statements));
    Ok(items)
}

/// TID 1501 for one label.
fn measurement_group(series: &ResultSeries, position: usize, result: &LabelResult) -> Result<Object, DicomOutError> {
    let value = codes::label_value(&result.label, position);
    let finding = Code {
        value: &value,
        scheme: codes::PRIVATE_SCHEME,
        meaning: codes::meaning(&result.label),
    };
    let decision = if result.is_finding() {
        &codes::PRESENT
    } else {
        &codes::ABSENT
    };
    let provenance = &series.provenance;
    let mut items = vec![
        text_item(HasObsContext, &codes::TRACKING_IDENTIFIER, &result.label),
        uid_item(HasObsContext, &codes::TRACKING_UID, &uid::new_uid()?),
        code_item(Contains, &codes::FINDING, &finding),
        text_item(HasConceptMod, &codes::ALGORITHM_NAME, &provenance.algorithm_name()),
        text_item(HasConceptMod, &codes::ALGORITHM_VERSION, &provenance.version),
    ];
    items.extend(
        provenance
            .parameters()
            .iter()
            .map(|p| text_item(HasConceptMod, &codes::ALGORITHM_PARAMETERS, p)),
    );
    items.push(num_item(
        Contains,
        &codes::PROBABILITY,
        result.probability,
        &codes::PROBABILITY_UNIT,
    ));
    items.push(num_item(
        Contains,
        &codes::DECISION_THRESHOLD,
        result.threshold,
        &codes::PROBABILITY_UNIT,
    ));
    items.push(code_item(Contains, &codes::AT_THRESHOLD, decision));
    if let Some(image) = &series.source.image {
        items.push(image_item(Contains, &codes::SOURCE_OF_MEASUREMENT, image));
    }
    Ok(container(Contains, &codes::MEASUREMENT_GROUP, Some("1501"), items))
}
