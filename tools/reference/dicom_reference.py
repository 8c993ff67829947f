#!/usr/bin/env python3
"""pydicom's view of the DICOM sample files, as references for chexlens.

The samples are real files from the PyPI packages `pydicom` (its bundled
test files) and `pydicom-data` (the DICOM WG04 compression set: real CR
radiographs, MONOCHROME1), both MIT licensed; `scripts/fetch-dicom-samples`
downloads and unpacks them. For every sample this script writes

  <name>.stored.i32   the first frame's stored values as pydicom decodes them
                      (pylibjpeg with libjpeg, openjpeg and rle plugins for
                      compressed files), int32 little endian, samples
                      interleaved;
  <name>.display.u8   for grey images, the 8-bit display image following the
                      steps chexlens documents: pydicom's apply_modality_lut,
                      then apply_voi_lut (window preferred over a VOI LUT,
                      first value), normalised to 0..1 by pydicom's own output
                      range, else the frame's full range; MONOCHROME1
                      inverted; round half up to 0..255;

and index.json with the tags chexlens should read from each file, its
rescale and its windows.

Usage: dicom_reference.py --samples DIR --out DIR
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut, apply_voi_lut

# name, why it is here, whether the codec is lossy (pixel values may then
# differ by decoder rounding: compared with a tolerance, not exactly).
SAMPLES = [
    ("RG1_UNCR.dcm", "CR chest PA, MONOCHROME1, 15 bits, explicit VR little endian", False),
    ("RG1_J2KR.dcm", "the same radiograph, JPEG 2000 lossless", False),
    ("RG1_J2KI.dcm", "the same radiograph, JPEG 2000 lossy", True),
    ("RG3_UNCR.dcm", "CR AP, MONOCHROME1, 10 bits, explicit VR little endian", False),
    ("RG3_J2KR.dcm", "the same radiograph, JPEG 2000 lossless", False),
    ("MR_small_jp2klossless.dcm", "JPEG 2000 lossless, signed 16 bits", False),
    ("MR_small_implicit.dcm", "implicit VR little endian, signed 16 bits, window", False),
    ("MR_small_bigendian.dcm", "explicit VR big endian (retired), signed", False),
    ("image_dfl.dcm", "deflated explicit VR little endian, no window", False),
    ("MR_small_RLE.dcm", "RLE lossless, signed 16 bits", False),
    ("emri_small_RLE.dcm", "RLE lossless, 12 of 16 bits, 10 frames", False),
    ("JPEG-LL.dcm", "JPEG lossless (process 14 SV1), signed 16 bits", False),
    ("JPGLosslessP14SV1_1s_1f_8b.dcm", "JPEG lossless, 8 bits, window", False),
    ("SC_rgb_jpeg_dcmtk.dcm", "JPEG baseline, YBR_FULL colour", True),
    ("SC_jpeg_no_color_transform.dcm", "JPEG baseline, RGB stored without colour transform", True),
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", "JPEG baseline, YBR_FULL_422", True),
    ("JPGExtended.dcm", "JPEG extended, 12 bits", True),
    ("MR_small_jpeg_ls_lossless.dcm", "JPEG-LS lossless, signed 16 bits", False),
    # Near-lossless coding loses detail, but its decoding is exact: compared exactly.
    ("JPEGLSNearLossless_08.dcm", "JPEG-LS near-lossless, 8 bits", False),
    ("JPEGLSNearLossless_16.dcm", "JPEG-LS near-lossless, 16 bits", False),
    ("SC_rgb_jls_lossy_line.dcm", "JPEG-LS near-lossless colour, line interleaved", False),
    ("SC_rgb_jls_lossy_sample.dcm", "JPEG-LS near-lossless colour, sample interleaved", False),
    ("CT_small.dcm", "signed 16 bits with rescale intercept -1024, no window", False),
    ("vlut_04.dcm", "VOI LUT Sequence, no window", False),
]

# Multi-frame files whose every frame is written (<name>.frames.i32, frame
# after frame), for frame selection: one per frame-storage kind.
MULTI_FRAME = [
    ("emri_small.dcm", "explicit VR little endian, 10 frames"),
    ("emri_small_RLE.dcm", "RLE lossless, a fragment per frame"),
    ("emri_small_jpeg_2k_lossless.dcm", "JPEG 2000 lossless, a fragment per frame"),
    ("emri_small_jpeg_ls_lossless.dcm", "JPEG-LS lossless, a fragment per frame"),
]

# Files in a transfer syntax chexlens has no decoder for, and a phrase its
# message must contain. Every syntax among the samples is now decoded, so
# this one is made: JPEG2000.dcm relabelled as JPEG 2000 Part 2 (the UIDs
# have the same length, so only the UID's bytes change).
UNSUPPORTED = [("JPEG2000.dcm", "unsupported_jpeg2000_part2.dcm", b"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2")]


def find(samples, name):
    for root, _dirs, files in os.walk(samples):
        if name in files:
            return os.path.join(root, name)
    sys.exit(f"{name} not found under {samples}; run scripts/fetch-dicom-samples")


def first_frame(ds):
    arr = ds.pixel_array
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return arr[0] if frames > 1 else arr


def display_8bit(ds, stored):
    """The documented display steps, on pydicom's functions."""
    modality_lut = apply_modality_lut(stored, ds)
    modality = modality_lut.astype(np.float64)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        out = apply_voi_lut(modality, ds, index=0, prefer_lut=False).astype(np.float64)
        # pydicom's output range for a window (processing.apply_windowing).
        bits = int(ds.BitsStored)
        if ds.PixelRepresentation == 0:
            y_min, y_max = 0.0, 2.0**bits - 1
        else:
            y_min, y_max = -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
        if ds.get("RescaleSlope") is not None and ds.get("RescaleIntercept") is not None:
            slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
            y_min, y_max = y_min * slope + intercept, y_max * slope + intercept
        unit = (out - y_min) / (y_max - y_min)
    elif "VOILUTSequence" in ds:
        out = apply_voi_lut(modality_lut, ds, index=0, prefer_lut=True).astype(np.float64)
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        unit = out / (2.0**bits - 1)
    else:
        lo, hi = modality.min(), modality.max()
        unit = (modality - lo) / (hi - lo) if hi > lo else np.zeros_like(modality)
    unit = np.clip(unit, 0.0, 1.0)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        unit = 1.0 - unit
    return np.floor(unit * 255.0 + 0.5).astype(np.uint8)


def text(ds, keyword):
    value = ds.get(keyword)
    return str(value).strip() if value not in (None, "") else None


def windows(ds):
    """Every (center, width) pair of the file's VOI windows, in order."""
    if "WindowCenter" not in ds or "WindowWidth" not in ds:
        return []
    as_list = lambda v: [float(x) for x in (v if isinstance(v, pydicom.multival.MultiValue) else [v])]
    return [[c, w] for c, w in zip(as_list(ds.WindowCenter), as_list(ds.WindowWidth))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    index = {"pydicom": pydicom.__version__, "samples": [], "unsupported": [], "multi_frame": []}
    for name, why, lossy in SAMPLES:
        path = find(args.samples, name)
        ds = pydicom.dcmread(path)
        stored = np.ascontiguousarray(first_frame(ds))
        stem = os.path.join(args.out, name)
        stored.astype("<i4").tofile(stem + ".stored.i32")
        grey = ds.PhotometricInterpretation in ("MONOCHROME1", "MONOCHROME2")
        if grey:
            display_8bit(ds, stored).tofile(stem + ".display.u8")
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        index["samples"].append(
            {
                "file": name,
                "sha256": digest,
                "why": why,
                "lossy": lossy,
                "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
                "rows": int(ds.Rows),
                "columns": int(ds.Columns),
                "samples_per_pixel": int(ds.SamplesPerPixel),
                "frames": int(getattr(ds, "NumberOfFrames", 1) or 1),
                "photometric": str(ds.PhotometricInterpretation),
                "grey": grey,
                "patient_sex": text(ds, "PatientSex"),
                "patient_age": text(ds, "PatientAge"),
                "view_position": text(ds, "ViewPosition"),
                "stored_min": int(stored.min()),
                "stored_max": int(stored.max()),
                # The modality LUT's rescale as pydicom reads it (identity when absent).
                "rescale_slope": float(getattr(ds, "RescaleSlope", 1) or 1),
                "rescale_intercept": float(getattr(ds, "RescaleIntercept", 0) or 0),
                "windows": windows(ds),
            }
        )
        print(f"{name:34s} {ds.Rows}x{ds.Columns} {ds.PhotometricInterpretation:12s} {why}")
    for name, why in MULTI_FRAME:
        ds = pydicom.dcmread(find(args.samples, name))
        frames = np.ascontiguousarray(ds.pixel_array)
        assert frames.ndim == 3 and frames.shape[0] == int(ds.NumberOfFrames), name
        frames.astype("<i4").tofile(os.path.join(args.out, name + ".frames.i32"))
        index["multi_frame"].append({"file": name, "why": why, "frames": int(frames.shape[0])})
    for source, name, uid, phrase in UNSUPPORTED:
        with open(find(args.samples, source), "rb") as f:
            data = f.read()
        ds = pydicom.dcmread(find(args.samples, source), stop_before_pixels=True)
        old = str(ds.file_meta.TransferSyntaxUID).encode()
        assert len(old) == len(uid) and data.count(old) >= 1, source
        with open(os.path.join(args.samples, name), "wb") as f:
            f.write(data.replace(old, uid, 1))
        ds = pydicom.dcmread(os.path.join(args.samples, name), stop_before_pixels=True)
        index["unsupported"].append(
            {"file": name, "transfer_syntax": str(ds.file_meta.TransferSyntaxUID), "phrase": phrase}
        )
    with open(os.path.join(args.out, "index.json"), "w") as f:
        json.dump(index, f, indent=1)


if __name__ == "__main__":
    main()
