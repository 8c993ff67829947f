#!/usr/bin/env python3
"""JPEG-LS streams written by CharLS (pyjpegls) and their decoded samples,
for the JPEG-LS decoder's tests: every bit depth class, lossless and
near-lossless, grey and colour in the three interleave modes.

    python3 tools/reference/jpeg_ls_reference.py --dicom-samples target/dicom-samples/files

Needs numpy, pyjpegls (CharLS), pydicom, scikit-image (its photographs) and,
optionally, pylibjpeg-libjpeg: when present, its decoding must equal CharLS's.

Sources, real images: crops of the chest radiograph RG1 of the DICOM WG04 set
(15-bit stored values, shifted to each bit depth) and of scikit-image's
astronaut photograph. Each case is <name>.jls and <name>.u16 (the decoded
samples, little endian, interleaved per pixel); index.json lists them.

Writes crates/chexlens-jpeg/tests/fixtures/jpeg_ls/.
"""

import argparse
import json
import shutil
from pathlib import Path

import jpeg_ls
import numpy as np
import pydicom
import skimage
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/chexlens-jpeg/tests/fixtures/jpeg_ls"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dicom-samples", default=str(ROOT / "target/dicom-samples/files"))
    args = parser.parse_args()
    chest = pydicom.dcmread(Path(args.dicom_samples) / "RG1_UNCR.dcm").pixel_array.astype(np.uint16)
    photo = np.asarray(Image.open(Path(skimage.__file__).parent / "data" / "astronaut.png"))

    def grey(bits, top, left, height=31, width=40):
        return (chest[top:top + height, left:left + width] >> (15 - bits)).astype(np.uint16)

    def colour(bits, height=23, width=29):
        crop = photo[60:60 + height, 200:200 + width].astype(np.uint16)
        return crop << (bits - 8) if bits > 8 else crop >> (8 - bits)

    cases = [
        # (name, samples, near, interleave)
        ("grey2_lossless", grey(2, 800, 700), 0, None),
        ("grey5_near1", grey(5, 820, 710), 1, None),
        ("grey8_lossless", grey(8, 900, 800), 0, None),
        ("grey8_near3", grey(8, 1000, 900), 3, None),
        ("grey10_lossless", grey(10, 600, 600), 0, None),
        ("grey12_lossless_wide", grey(12, 700, 300, 17, 131), 0, None),
        ("grey12_near2", grey(12, 1100, 1000), 2, None),
        ("grey15_lossless", grey(15, 500, 500), 0, None),
        ("grey16_lossless", grey(15, 400, 400) << 1, 0, None),
        ("grey16_near5", grey(15, 450, 450) << 1 | 1, 5, None),
        ("rgb8_lossless_none", colour(8), 0, 0),
        ("rgb8_lossless_line", colour(8), 0, 1),
        ("rgb8_near2_sample", colour(8), 2, 2),
        ("rgb12_near1_line", colour(12), 1, 1),
        ("rgb12_lossless_sample", colour(12), 0, 2),
    ]
    try:
        from libjpeg import decode as libjpeg_decode
    except ImportError:
        libjpeg_decode = None

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    index = {"generator": "tools/reference/jpeg_ls_reference.py", "cases": [],
             "cross_checked_with_pylibjpeg_libjpeg": libjpeg_decode is not None}
    for name, samples, near, interleave in cases:
        bits = int(name[4:].split("_")[0]) if name.startswith("grey") else int(name[3:].split("_")[0])
        components = 1 if samples.ndim == 2 else 3
        rows, columns = samples.shape[:2]
        # CharLS takes colour planes one after another for interleave mode 0.
        source = samples.transpose(2, 0, 1) if components == 3 and interleave == 0 else samples
        stream = bytes(jpeg_ls.encode_buffer(np.ascontiguousarray(source).tobytes(), rows, columns, components,
                                             bits, lossy_error=near, interleave_mode=interleave))
        decoded = np.asarray(jpeg_ls.decode(np.frombuffer(stream, np.uint8))).astype(np.uint16)
        decoded = decoded.reshape(rows, columns, components) if components == 3 else decoded.reshape(rows, columns)
        if near == 0:
            assert np.array_equal(decoded, samples), name
        else:
            assert np.abs(decoded.astype(int) - samples.astype(int)).max() <= near, name
        if libjpeg_decode is not None:
            other = np.asarray(libjpeg_decode(stream)).reshape(decoded.shape)
            assert np.array_equal(other.astype(np.uint16), decoded), f"{name}: libjpeg and CharLS disagree"
        (OUT / f"{name}.jls").write_bytes(stream)
        decoded.astype("<u2").tofile(OUT / f"{name}.u16")
        index["cases"].append({"file": f"{name}.jls", "expected": f"{name}.u16", "width": columns, "height": rows,
                               "components": components, "bits": bits, "near": near,
                               "interleave": interleave or 0})
    (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(cases)} cases, {total / 1024:.0f} KiB in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
