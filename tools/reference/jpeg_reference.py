#!/usr/bin/env python3
"""JPEG fixtures and Pillow's decoding of them, for the JPEG decoder's tests.

    python3 tools/reference/jpeg_reference.py --dicom-samples target/dicom-samples/files

Needs Pillow (with its bundled libjpeg-turbo), numpy, scikit-image (its bundled
photographs), pydicom (for the two radiographs) and libjpeg-turbo's `cjpeg`
(Debian: libjpeg-turbo-progs) for the samplings Pillow's encoder cannot write.

Sources, all real images: the photographs astronaut, coffee, chelsea and camera
from scikit-image's data (public domain / CC0), and the chest radiographs RG1
and RG3 of the DICOM WG04 set (pydicom-data, fetched by
scripts/fetch-dicom-samples). Each case is a small crop of odd size, encoded
with the settings named, and decoded by Pillow (`Image.open(f).convert(...)`,
libjpeg-turbo's defaults: islow IDCT, fancy upsampling). The decoded pixels
are written losslessly as PNG beside each JPEG; index.json lists the cases and
the versions that made them.

Writes crates/chexlens-jpeg/tests/fixtures/jpeg/.
"""

import argparse
import io
import json
import shutil
from pathlib import Path

import numpy as np
import PIL
from PIL import Image, features

from jpeg_sources import cjpeg_jpeg, photograph, pillow_jpeg, radiograph

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/chexlens-jpeg/tests/fixtures/jpeg"


def crop(pixels, top, left, height, width):
    return pixels[top : top + height, left : left + width]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dicom-samples", default=str(ROOT / "target/dicom-samples/files"))
    args = parser.parse_args()
    if shutil.which("cjpeg") is None:
        raise SystemExit("cjpeg is missing (Debian: apt-get install libjpeg-turbo-progs)")

    astronaut, coffee, chelsea = photograph("astronaut.png"), photograph("coffee.png"), photograph("chelsea.png")
    camera = photograph("camera.png")
    rg1 = radiograph(args.dicom_samples, "RG1_UNCR.dcm")
    rg3 = radiograph(args.dicom_samples, "RG3_UNCR.dcm")

    cases = [
        # (name, what, jpeg bytes)
        ("astronaut_420_q90", "photo, 4:2:0 baseline", pillow_jpeg(crop(astronaut, 40, 180, 67, 83), quality=90)),
        ("astronaut_422_progressive", "photo, 4:2:2 progressive",
         pillow_jpeg(crop(astronaut, 200, 150, 61, 97), quality=75, subsampling=1, progressive=True)),
        ("astronaut_444_q100", "photo, 4:4:4, quality 100 (all quantisers 1)",
         pillow_jpeg(crop(astronaut, 300, 300, 40, 50), quality=100, subsampling=0)),
        ("coffee_444_q95", "photo, 4:4:4 baseline", pillow_jpeg(crop(coffee, 100, 200, 53, 70), quality=95, subsampling=0)),
        ("coffee_420_progressive_restart", "photo, 4:2:0 progressive, restart every 3 MCUs",
         pillow_jpeg(crop(coffee, 150, 300, 77, 121), quality=85, progressive=True, restart_marker_blocks=3)),
        ("chelsea_420_restart_rows", "photo, 4:2:0 baseline, restart every MCU row",
         pillow_jpeg(crop(chelsea, 80, 120, 64, 64), quality=80, restart_marker_rows=1)),
        ("chelsea_440", "photo, 4:4:0 (chroma 1x2)", cjpeg_jpeg(crop(chelsea, 100, 200, 71, 59), "-quality", "88", "-sample", "1x2")),
        ("astronaut_411", "photo, 4:1:1 (chroma 4x1, replicated)",
         cjpeg_jpeg(crop(astronaut, 100, 250, 37, 101), "-quality", "80", "-sample", "4x1")),
        ("coffee_mixed_sampling_progressive", "photo, Y 2x2 Cb 1x2 Cr 1x1, progressive, restart every MCU row",
         cjpeg_jpeg(crop(coffee, 50, 50, 45, 45), "-quality", "90", "-sample", "2x2,1x2,1x1", "-progressive", "-restart", "1")),
        ("coffee_410", "photo, chroma 4x2 (replicated)", cjpeg_jpeg(crop(coffee, 220, 120, 33, 66), "-sample", "4x2")),
        ("coffee_rgb", "photo, RGB without colour transform (Adobe marker)",
         cjpeg_jpeg(crop(coffee, 10, 400, 29, 31), "-rgb", "-quality", "92")),
        ("chelsea_narrow_422", "photo 2 px wide, 4:2:2 (chroma 1 sample wide)",
         pillow_jpeg(crop(chelsea, 30, 30, 9, 2), quality=90, subsampling=1)),
        ("chelsea_tiny_420", "photo 1x1, 4:2:0", pillow_jpeg(crop(chelsea, 5, 5, 1, 1), quality=90)),
        ("camera_grey_q90", "grey photo, baseline", pillow_jpeg(crop(camera, 100, 180, 59, 77), quality=90)),
        ("camera_grey_progressive_q50", "grey photo, progressive",
         pillow_jpeg(crop(camera, 300, 50, 90, 44), quality=50, progressive=True)),
        ("camera_grey_2x2", "grey photo, its one component sampled 2x2, optimised tables",
         cjpeg_jpeg(crop(camera, 20, 400, 50, 37), "-grayscale", "-sample", "2x2", "-optimize")),
        ("chest_rg1_grey_q90", "chest radiograph, grey baseline", pillow_jpeg(crop(rg1, 500, 500, 192, 160), quality=90)),
        ("chest_rg3_grey_progressive", "chest radiograph, grey progressive",
         pillow_jpeg(crop(rg3, 700, 600, 201, 255), quality=80, progressive=True)),
        ("chest_rg1_rgb_420", "chest radiograph saved as RGB, 4:2:0",
         pillow_jpeg(np.stack([crop(rg1, 900, 700, 97, 131)] * 3, axis=-1), quality=85)),
        ("camera_arithmetic", "grey photo, arithmetic coded", cjpeg_jpeg(crop(camera, 0, 0, 16, 16), "-arithmetic")),
    ]

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    index = {
        "generator": "tools/reference/jpeg_reference.py",
        "pillow": PIL.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "cases": [],
    }
    for name, what, data in cases:
        (OUT / f"{name}.jpg").write_bytes(data)
        image = Image.open(io.BytesIO(data))
        mode = "L" if image.mode == "L" else "RGB"
        decoded = image.convert(mode)
        decoded.save(OUT / f"{name}.png")
        index["cases"].append({"file": f"{name}.jpg", "expected": f"{name}.png", "what": what, "mode": mode,
                               "width": decoded.width, "height": decoded.height})
    (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(cases)} cases, {total / 1024:.0f} KiB in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
