"""What DICOM's own readers find in chexlens's DICOM output, as JSON.

For each file (a .dcm, a .png, or a folder or zip of them):
- a Comprehensive SR is parsed by highdicom as a TID 1500 measurement report:
  each measurement group's label, probability, decision threshold and
  decision, the images it references, the evidence and the report's text;
- a Secondary Capture's pixels are read by pydicom (shape and sha256 of its
  RGB samples), with its references;
- a PNG's pixels are read by Pillow the same way, to compare with.

Used by the CLI's and the page's tests (crates/chexlens-cli/tests/dicom_out_cli.rs,
tests/e2e/dicom_out.test.mjs); run with the venv scripts/setup --test makes:
    .tools/dicom-venv/bin/python tools/dicom/read_results.py OUT/ > found.json
"""

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from PIL import Image
from pydicom.sr.coding import Code

PROBABILITY = Code("PROBABILITY", "99CHEXLENS", "Probability")
THRESHOLD = Code("THRESHOLD", "99CHEXLENS", "Decision threshold")


def pixels(array):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def statements(ds):
    """The texts of the report's Qualitative Evaluations (UMLS C0034375)."""
    return [
        str(text.TextValue)
        for item in ds.ContentSequence
        if item.ConceptNameCodeSequence[0].CodeValue == "C0034375"
        for text in item.ContentSequence
        if text.ValueType == "TEXT"
    ]


def named_texts(item, code_value):
    """The TEXT children of `item` whose concept name has `code_value` (DCM)."""
    return [
        str(child.TextValue)
        for child in item.ContentSequence
        if child.ValueType == "TEXT" and child.ConceptNameCodeSequence[0].CodeValue == code_value
    ]


def study(ds):
    return {
        "sop_class_uid": str(ds.SOPClassUID),
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "study_instance_uid": str(ds.StudyInstanceUID),
        "series_instance_uid": str(ds.SeriesInstanceUID),
        "modality": str(ds.Modality),
        "patient_id": str(ds.get("PatientID", "")),
        "patient_name": str(ds.get("PatientName", "")),
        "accession_number": str(ds.get("AccessionNumber", "")),
    }


def read_report(ds):
    sr = hd.sr.ComprehensiveSR.from_dataset(ds)
    report = sr.content
    if not isinstance(report, hd.sr.MeasurementReport):
        raise SystemExit("the SR is not read as a TID 1500 measurement report")
    groups = []
    for group in report.get_image_measurement_groups():
        (probability,) = group.get_measurements(name=PROBABILITY)
        (threshold,) = group.get_measurements(name=THRESHOLD)
        (decision,) = group.get_qualitative_evaluations()
        groups.append({
            "label": group.tracking_identifier,
            "finding": group.finding_type.meaning,
            "probability": probability.value,
            "probability_unit": probability.unit.value,
            "threshold": threshold.value,
            "decision": decision.value.meaning,
            "algorithm": named_texts(group[0], "111001"),
            "parameters": named_texts(group[0], "111002"),
            "source_images": [img.referenced_sop_instance_uid for img in group.source_images],
            "source_frames": [img.referenced_frame_numbers for img in group.source_images],
        })
    evidence = [
        {
            "study_instance_uid": str(item.StudyInstanceUID),
            "series_instance_uid": str(series.SeriesInstanceUID),
            "sop_class_uid": str(sop.ReferencedSOPClassUID),
            "sop_instance_uid": str(sop.ReferencedSOPInstanceUID),
        }
        for item in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
        for series in item.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    ]
    return {"kind": "sr", **study(ds), "groups": groups, "evidence": evidence, "statements": statements(ds),
            "verification": str(ds.VerificationFlag)}


def read_capture(ds):
    return {
        "kind": "sc",
        **study(ds),
        "image_type": list(ds.ImageType),
        "derivation": str(ds.get("DerivationDescription", "")),
        "photometric": str(ds.PhotometricInterpretation),
        "pixels": pixels(ds.pixel_array),
        "source_images": [str(s.ReferencedSOPInstanceUID) for s in ds.get("SourceImageSequence", [])],
        "source_frames": [int(s.ReferencedFrameNumber) if "ReferencedFrameNumber" in s else None
                          for s in ds.get("SourceImageSequence", [])],
    }


def read_one(name, data):
    if name.lower().endswith(".png"):
        return {"kind": "png", "pixels": pixels(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))}
    ds = pydicom.dcmread(io.BytesIO(data))
    if ds.SOPClassUID == pydicom.uid.ComprehensiveSRStorage:
        return read_report(ds)
    return read_capture(ds)


def entries(path):
    path = Path(path)
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and child.suffix.lower() in (".dcm", ".png"):
                yield str(child), child.read_bytes()
    elif path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if name.lower().endswith((".dcm", ".png")):
                    yield name, archive.read(name)
    else:
        yield str(path), path.read_bytes()


def main():
    found = {name: read_one(name, data) for arg in sys.argv[1:] for name, data in entries(arg)}
    json.dump(found, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
