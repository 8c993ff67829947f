#!/usr/bin/env python3
"""A corpus of JPEG files, sound and damaged, with Pillow's decoding of each
and libjpeg-turbo's own warning for the damaged ones, for chexlens-jpeg's
corpus test (crates/chexlens-jpeg/tests/jpeg_corpus.rs).

    python3 tools/reference/jpeg_corpus.py --dicom-samples target/dicom-samples/files

Needs Pillow (its bundled libjpeg-turbo decodes every file, as the reference
pipeline does), numpy, scikit-image (its bundled photographs), pydicom (two
real chest radiographs of the DICOM WG04 set, fetched by
scripts/fetch-dicom-samples) and libjpeg-turbo's `cjpeg` and `djpeg`
(Debian: libjpeg-turbo-progs) for what Pillow's encoder cannot write:
arithmetic coding, any sampling factors, restart intervals in blocks, RGB
without a colour transform, and for the warnings.

Every file is a small crop (of an odd size, from a seeded generator) of a
real image: photographs from scikit-image (public domain / CC0) and the
radiographs. The sound files vary quality, sampling, progression, coding,
restart intervals and table optimisation; the damaged ones are copies of
sound ones with bits flipped in the entropy-coded data, a stretch of it cut
out, restart markers renumbered or dropped, or bytes left before the end
marker. Each is decoded by Pillow (`Image.open(f).convert(mode)`,
libjpeg-turbo's defaults) and written losslessly as PNG beside it; `djpeg`
decodes it too, and its first "Corrupt JPEG data" warning is recorded.
A damaged copy that Pillow refuses is not kept (it is no case of decoding
damage, and the cut-file tests cover refusals).

12-bit files are not in the corpus: Debian's cjpeg (libjpeg-turbo 2.1) has
no 12-bit mode and Pillow cannot read them.

Writes crates/chexlens-jpeg/tests/fixtures/corpus/.
"""

import argparse
import io
import json
import random
import shutil
import subprocess
import tempfile
from pathlib import Path

import PIL
from PIL import Image, features

from jpeg_sources import cjpeg_jpeg, photograph, pillow_jpeg, radiograph

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/chexlens-jpeg/tests/fixtures/corpus"
SEED = 20261207


def djpeg_warning(data):
    """libjpeg-turbo's first warning for the file, or None."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jpg"
        source.write_bytes(data)
        run = subprocess.run(["djpeg", "-outfile", "/dev/null", str(source)], capture_output=True, text=True)
    for line in run.stderr.splitlines():
        if "Corrupt JPEG data" in line:
            return line[line.index("Corrupt JPEG data"):].strip()
    return None


def scan_data(data):
    """(start, end) of each scan's entropy-coded data."""
    spans, i = [], 2
    while i < len(data) - 1:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0x00, 0xFF) or 0xD0 <= marker <= 0xD7:
            i += 1 if marker == 0xFF else 2
            continue
        if marker == 0xD9:
            break
        length = data[i + 2] << 8 | data[i + 3]
        if marker != 0xDA:
            i += 2 + length
            continue
        start = j = i + 2 + length
        while not (data[j] == 0xFF and data[j + 1] not in (0x00,) and not 0xD0 <= data[j + 1] <= 0xD7):
            j += 1
        spans.append((start, j))
        i = j
    return spans


def plain_positions(data, start, end):
    """Positions in [start, end) whose byte is ordinary data: flipping one
    of their low bits makes no marker and unstuffs no FF."""
    return [p for p in range(start, end) if data[p] not in (0xFF, 0xFE) and data[p - 1] != 0xFF]


def flip_bits(data, rng, count):
    start, end = rng.choice(scan_data(data))
    out = bytearray(data)
    positions = plain_positions(data, start + 2, end)
    for p in rng.sample(positions, min(count, len(positions))):
        out[p] ^= 1 << rng.randrange(0, 8)
        if out[p] == 0xFF:
            out[p] = 0xFE
    return bytes(out)


def cut_stretch(data, rng):
    start, end = max(scan_data(data), key=lambda s: s[1] - s[0])
    length = max(1, (end - start) // rng.choice([3, 5, 8]))
    at = rng.randrange(start + 1, max(start + 2, end - length))
    return data[:at] + data[at + length:]


def cut_tail(data, rng):
    start, end = scan_data(data)[-1]
    keep = start + (end - start) * rng.choice([1, 2, 3]) // 5
    return data[:keep] + data[end:]


def restart_markers(data):
    return [i for i in range(len(data) - 1) if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]


def renumber_restart(data, rng):
    out = bytearray(data)
    at = rng.choice(restart_markers(data))
    out[at + 1] = 0xD0 + (out[at + 1] - 0xD0 + rng.choice([1, 2, 3, 5])) % 8
    return bytes(out)


def drop_restart(data, rng):
    at = rng.choice(restart_markers(data))
    return data[:at] + data[at + 2:]


def garbage_before_end(data, rng):
    return data[:-2] + bytes(rng.randrange(1, 0xFF) for _ in range(rng.randrange(1, 40))) + data[-2:]


def crop(rng, pixels, small=12, large=72):
    height, width = pixels.shape[:2]
    h, w = rng.randrange(small, large), rng.randrange(small, large)
    top, left = rng.randrange(0, height - h), rng.randrange(0, width - w)
    return pixels[top:top + h, left:left + w]


def sound_cases(rng, colour, grey):
    """(name, what, bytes) for every sound file."""
    cases = []
    for source, pixels in colour.items():
        for quality in (50, 90, 100):
            for subsampling, label in ((0, "444"), (1, "422"), (2, "420")):
                for progressive in (False, True):
                    kind = "progressive" if progressive else "baseline"
                    cases.append((f"{source}_{label}_q{quality}_{kind}", f"{source}, {label} {kind}, quality {quality}",
                                  pillow_jpeg(crop(rng, pixels), quality=quality, subsampling=subsampling,
                                              progressive=progressive, optimize=quality == 90)))
        for sampling in ("1x1", "2x1", "1x2", "2x2", "4x1", "1x4", "4x2", "2x2,1x2,1x1", "2x1,1x1,2x1"):
            for arithmetic in (False, True):
                for progressive in (False, True):
                    args = ["-quality", str(rng.choice([60, 85, 95])), "-sample", sampling]
                    args += ["-arithmetic"] if arithmetic else []
                    args += ["-progressive"] if progressive else []
                    coding = ("arithmetic" if arithmetic else "huffman") + (" progressive" if progressive else "")
                    tag = sampling.replace(",", "_")
                    cases.append((f"{source}_{tag}_{coding.replace(' ', '_')}", f"{source}, sampling {sampling}, {coding}",
                                  cjpeg_jpeg(crop(rng, pixels), *args)))
        for restart in ("1", "2", "3B", "5B"):
            arithmetic = restart.endswith("B") and restart.startswith("3")
            args = ["-restart", restart, "-sample", rng.choice(["2x2", "2x1", "1x1"])]
            args += ["-arithmetic"] if arithmetic else []
            cases.append((f"{source}_restart_{restart}{'_arithmetic' if arithmetic else ''}",
                          f"{source}, restart every {restart} ({'blocks' if 'B' in restart else 'rows'})"
                          + (", arithmetic" if arithmetic else ""),
                          cjpeg_jpeg(crop(rng, pixels), *args)))
        cases.append((f"{source}_rgb", f"{source}, RGB without colour transform",
                      cjpeg_jpeg(crop(rng, pixels), "-rgb", "-quality", "90")))
        cases.append((f"{source}_rgb_arithmetic_progressive", f"{source}, RGB, arithmetic progressive",
                      cjpeg_jpeg(crop(rng, pixels), "-rgb", "-arithmetic", "-progressive")))
    for source, pixels in grey.items():
        for quality in (30, 60, 85, 95, 100):
            for progressive in (False, True):
                kind = "progressive" if progressive else "baseline"
                cases.append((f"{source}_q{quality}_{kind}", f"{source} (grey), {kind}, quality {quality}",
                              pillow_jpeg(crop(rng, pixels, 16, 120), quality=quality, progressive=progressive)))
        for arithmetic in (False, True):
            for progressive in (False, True):
                for restart in (None, "2B"):
                    args = ["-grayscale", "-quality", str(rng.choice([70, 90]))]
                    args += ["-arithmetic"] if arithmetic else []
                    args += ["-progressive"] if progressive else []
                    args += ["-restart", restart] if restart else []
                    coding = ("arithmetic" if arithmetic else "huffman") + ("_progressive" if progressive else "")
                    name = f"{source}_{coding}" + ("_restart" if restart else "")
                    cases.append((name, f"{source} (grey), {coding.replace('_', ' ')}"
                                  + (", restart every 2 blocks" if restart else ""),
                                  cjpeg_jpeg(crop(rng, pixels, 16, 120), *args)))
        cases.append((f"{source}_2x2_optimised", f"{source} (grey), sampled 2x2, optimised tables",
                      cjpeg_jpeg(crop(rng, pixels), "-grayscale", "-sample", "2x2", "-optimize")))
    return cases


def damaged_cases(rng, sound):
    """(name, what, bytes) for damaged copies of sound files."""
    by_name = dict((name, data) for name, _, data in sound)
    with_restarts = [n for n, d in by_name.items() if restart_markers(d) and "arithmetic" not in n]
    arithmetic = [n for n in by_name if "arithmetic" in n]
    plain = [n for n in by_name if n not in with_restarts]
    damages = []
    for name in rng.sample(plain, 14):
        damages.append((f"{name}_flipped", "bits flipped in its entropy-coded data", flip_bits(by_name[name], rng, 3)))
    for name in rng.sample(plain, 8):
        damages.append((f"{name}_cut_stretch", "a stretch of its entropy-coded data cut out", cut_stretch(by_name[name], rng)))
    for name in rng.sample(plain, 8):
        damages.append((f"{name}_cut_tail", "its last scan's data cut short before the end marker", cut_tail(by_name[name], rng)))
    for name in rng.sample(with_restarts, 6):
        damages.append((f"{name}_renumbered_rst", "a restart marker renumbered", renumber_restart(by_name[name], rng)))
    for name in rng.sample(with_restarts, 4):
        damages.append((f"{name}_dropped_rst", "a restart marker dropped", drop_restart(by_name[name], rng)))
    for name in rng.sample(with_restarts, 4):
        damages.append((f"{name}_flipped", "bits flipped in data with restart markers", flip_bits(by_name[name], rng, 2)))
    for name in rng.sample(arithmetic, 6):
        damages.append((f"{name}_flipped", "bits flipped in arithmetic-coded data", flip_bits(by_name[name], rng, 2)))
    for name in rng.sample(arithmetic, 3):
        damages.append((f"{name}_cut_tail", "arithmetic-coded data cut short", cut_tail(by_name[name], rng)))
    for name in rng.sample(plain, 4):
        damages.append((f"{name}_garbage", "bytes before the end marker", garbage_before_end(by_name[name], rng)))
    return damages


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dicom-samples", default=str(ROOT / "target/dicom-samples/files"))
    args = parser.parse_args()
    for tool in ("cjpeg", "djpeg"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (Debian: apt-get install libjpeg-turbo-progs)")
    rng = random.Random(SEED)
    colour = {name: photograph(f"{name}.png") for name in ("astronaut", "coffee", "chelsea", "motorcycle_left")}
    grey = {
        "camera": photograph("camera.png"),
        "moon": photograph("moon.png"),
        "chest_rg1": radiograph(args.dicom_samples, "RG1_UNCR.dcm"),
        "chest_rg3": radiograph(args.dicom_samples, "RG3_UNCR.dcm"),
    }
    sound = sound_cases(rng, colour, grey)
    damaged = damaged_cases(rng, sound)

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    index = {
        "generator": "tools/reference/jpeg_corpus.py",
        "pillow": PIL.__version__,
        "libjpeg_turbo": features.version("libjpeg_turbo"),
        "djpeg": subprocess.run(["djpeg", "-version"], capture_output=True, text=True).stderr.strip(),
        "cases": [],
    }
    skipped = 0
    for number, (name, what, data) in enumerate(sound + damaged):
        stem = f"{number:03d}_{name}"
        try:
            image = Image.open(io.BytesIO(data))
            mode = "L" if image.mode == "L" else "RGB"
            decoded = image.convert(mode)
        except OSError:
            skipped += 1
            continue
        (OUT / f"{stem}.jpg").write_bytes(data)
        decoded.save(OUT / f"{stem}.png")
        index["cases"].append({"file": f"{stem}.jpg", "expected": f"{stem}.png", "what": what, "mode": mode,
                               "damaged": number >= len(sound), "warning": djpeg_warning(data)})
    (OUT / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    damaged_kept = sum(case["damaged"] for case in index["cases"])
    print(f"{len(sound)} sound and {damaged_kept} damaged files ({skipped} damaged copies Pillow refuses left out), "
          f"{total / 1024:.0f} KiB in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
