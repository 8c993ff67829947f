#!/usr/bin/env python3
"""Decode time of chexlens-jpeg against Pillow (libjpeg-turbo with SIMD) on
real radiographs and photographs, grey and colour, baseline and
progressive, in one run on this machine. Run by tools/bench/jpeg-bench.

The files are written first (into the directory given) by Pillow: the chest
radiographs RG1 and RG3 of the DICOM WG04 set at full size, and the
photographs scikit-image bundles (astronaut, coffee, retina, hubble deep
field), each as baseline and progressive JPEG at quality 90. Each is then
decoded --runs times by Pillow (`Image.open(...).load()`: the decode alone,
in the file's own mode) and by chexlens-jpeg's decode_bench example (the
same, into its planes), and the medians are compared.
"""

import argparse
import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import PIL
import pydicom
import skimage
from PIL import Image, features

ROOT = Path(__file__).resolve().parents[2]


def radiograph(name):
    ds = pydicom.dcmread(ROOT / "target/dicom-samples/files" / name)
    values = ds.pixel_array.astype(np.float64)
    low, high = np.percentile(values, [0.5, 99.5])
    grey = np.clip((values - low) / (high - low) * 255, 0, 255)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    return Image.fromarray(np.rint(grey).astype(np.uint8))


def photograph(name):
    return Image.open(Path(skimage.__file__).parent / "data" / name).convert("RGB")


def write_files(directory):
    sources = {
        "chest_rg1": radiograph("RG1_UNCR.dcm"),
        "chest_rg3": radiograph("RG3_UNCR.dcm"),
        "astronaut": photograph("astronaut.png"),
        "coffee": photograph("coffee.png"),
        "retina": photograph("retina.jpg"),
        "hubble": photograph("hubble_deep_field.jpg"),
    }
    files = []
    for name, image in sources.items():
        for progressive in (False, True):
            path = directory / f"{name}_{'progressive' if progressive else 'baseline'}.jpg"
            image.save(path, "JPEG", quality=90, progressive=progressive)
            files.append(path)
    return files


def pillow_ms(path, runs):
    data = path.read_bytes()

    def decode():
        image = Image.open(io.BytesIO(data))
        image.load()
        return image

    decode()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        decode()
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--chexlens", required=True, help="the decode_bench binary")
    args = parser.parse_args()
    directory = Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = write_files(directory)
    ours = subprocess.run([args.chexlens, "--runs", str(args.runs), *map(str, files)],
                          capture_output=True, text=True, check=True).stdout
    ours = {Path(line["file"]).name: line for line in map(json.loads, ours.splitlines())}
    print(f"Pillow {PIL.__version__} (libjpeg-turbo {features.version('libjpeg_turbo')}), "
          f"median of {args.runs} decodes each, one core")
    print(f"{'file':<28} {'size':>11} {'Pillow ms':>10} {'chexlens ms':>12} {'ratio':>6}")
    ratios = []
    for path in files:
        theirs = pillow_ms(path, args.runs)
        mine = ours[path.name]
        ratio = mine["median_ms"] / theirs
        ratios.append(ratio)
        size = f"{mine['width']}x{mine['height']}"
        print(f"{path.name:<28} {size:>11} {theirs:>10.2f} {mine['median_ms']:>12.2f} {ratio:>6.2f}")
    geometric = float(np.exp(np.mean(np.log(ratios))))
    print(f"geometric mean of chexlens / Pillow: {geometric:.2f} (largest {max(ratios):.2f})")


if __name__ == "__main__":
    sys.exit(main())
