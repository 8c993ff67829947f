"""The real images the JPEG fixtures are cut from, and the two encoders that
write them, shared by tools/reference/jpeg_reference.py and
tools/reference/jpeg_corpus.py.

Photographs come from scikit-image's bundled data (public domain / CC0);
chest radiographs from the DICOM WG04 set (pydicom-data, fetched by
scripts/fetch-dicom-samples). `cjpeg` is libjpeg-turbo's (Debian:
libjpeg-turbo-progs), for what Pillow's encoder cannot write.
"""

import io
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import skimage
from PIL import Image


def photograph(filename):
    """A scikit-image photograph's pixels (grey, or RGB without alpha)."""
    pixels = np.asarray(Image.open(Path(skimage.__file__).parent / "data" / filename))
    if pixels.ndim == 3:
        pixels = pixels[..., :3]
    return pixels


def radiograph(dicom_dir, name):
    """A DICOM radiograph as 8-bit grey: its 0.5 to 99.5 percentiles
    stretched over 0..255, MONOCHROME1 inverted."""
    ds = pydicom.dcmread(Path(dicom_dir) / name)
    values = ds.pixel_array.astype(np.float64)
    low, high = np.percentile(values, [0.5, 99.5])
    grey = np.clip((values - low) / (high - low) * 255, 0, 255)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    return np.rint(grey).astype(np.uint8)


def pillow_jpeg(pixels, **options):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", **options)
    return buffer.getvalue()


def cjpeg_jpeg(pixels, *args):
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / ("in.pgm" if pixels.ndim == 2 else "in.ppm")
        Image.fromarray(pixels).save(source)
        target = Path(tmp) / "out.jpg"
        subprocess.run(["cjpeg", *args, "-outfile", str(target), str(source)], check=True)
        return target.read_bytes()
