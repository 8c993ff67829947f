#!/usr/bin/env python3
"""A bounded mutation run against `chexlens predict`, as a hostile user would.

For each format (pth, safetensors, manifest, png, jpeg, dicom) it writes
mutants of real seed files (bit flips, interesting values, chunk
insertions, deletions, duplications, truncations, splices, and
structure-aware changes that keep a .pth's zip checksums or a JSON file's
syntax valid so that the parsers behind them are reached) and runs the CLI
on each, one process per mutant, under an address-space limit and a
wall-clock limit. A mutant must end in exit 0 (accepted) or a refusal
(exit 1 for an image, 2 for a model) whose message names the file and
shows no Rust internals; panics, signals, time-outs and out-of-memory are
failures, and so is a refused file whose peak memory passes 2x its size +
300 MB. Failing mutants are kept in target/mutation-findings/<format>/.

    python3 tools/hostile/mutation_run.py                 # 2000 mutants per format
    python3 tools/hostile/mutation_run.py --mutants 200 --formats pth,dicom

Needs the release CLI (cargo build --release --bin chexlens) and, for
DICOM seeds, scripts/fetch-dicom-samples. Standard library only.
"""

import argparse
import io
import json
import os
import random
import re
import resource
import signal
import struct
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates/chexlens-model/tests/fixtures"
DICOM_SAMPLES = ROOT / "target/dicom-samples/files"
MODEL = FIXTURES / "tiny_m0.safetensors"
SMALL_IMAGE = FIXTURES / "resized_xray_grey8.png"
MB = 1 << 20

INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\x00\x00\x00\x00", b"\xff\xff\xff\xff",
               b"\x7f\xff\xff\xff", b"\x00\x00\x00\x80", b"\xff\xff", b"\x00\x80", b"\xff\x7f",
               struct.pack("<Q", 2**63 - 1), struct.pack("<Q", 2**40)]
JSON_NUMBERS = ["0", "-1", "1e9", "1000000000", "1e308", "-1e308", "4294967296", "18446744073709551615",
                "0.0", "1e-300", "3", "9", "400", "100000", "[]", "{}", "null", "\"x\"", "true"]
LEAKS = re.compile(r"panicked|backtrace|\.rs:\d|Some\(|Error \{|kind: |/rustc/|RUST_BACKTRACE")


def seeds(fmt):
    pick = lambda names: [FIXTURES / n for n in names]
    if fmt == "pth":
        return pick(["tiny_m0.pth", "tiny_m1_checkpoint.pth", "tiny_m0_f16.pth"])
    if fmt == "safetensors":
        return pick(["tiny_m0.safetensors", "tiny_m0_f16.safetensors", "tiny_m0_bf16.safetensors"])
    if fmt == "manifest":
        return []  # written by manifest_seed()
    if fmt == "png":
        return pick(["xray_grey8.png", "xray_rgb.png", "xray_grey16.png", "resized_xray_rgba.png"])
    if fmt == "jpeg":
        return pick(["xray_grey.jpg"])
    if fmt == "dicom":
        if not DICOM_SAMPLES.is_dir():
            sys.exit(f"{DICOM_SAMPLES} is missing: run scripts/fetch-dicom-samples first")
        files = sorted(p for p in DICOM_SAMPLES.glob("*.dcm") if p.stat().st_size < 400_000)
        return files
    raise ValueError(fmt)


def manifest_seed():
    return json.dumps({
        "name": "mutation seed",
        "members": [{"weights": str(MODEL)}, {"weights": str(FIXTURES / "tiny_m0_f16.safetensors")}],
        "architecture": {"in_channels": 3, "patch_size": 4, "depths": [1, 1, 2, 1], "dims": [16, 32, 48, 64],
                         "cbam_hidden": 4, "spatial_kernel": 7, "metadata_widths": [8, 64, 32],
                         "num_classes": 14, "layer_norm_eps": 1e-6},
        "input": {"size": 64, "resize_filter": "bilinear"},
        "thresholds": {"default": 0.55, "per_label": {"Pneumothorax": 0.4}},
        "metadata": {"defaults": {"sex": "female", "age": 60, "view": "frontal", "projection": "ap"},
                     "age_scale": 1.0},
        "combine": "mean_probability",
    }, indent=1).encode()


# --- mutators ----------------------------------------------------------------

def byte_mutation(data, rng, others):
    data = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4, 8])):
        if not data:
            data = bytearray(rng.randbytes(16))
        kind = rng.randrange(8)
        at = rng.randrange(len(data))
        if kind == 0:
            data[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            value = rng.choice(INTERESTING)
            data[at:at + len(value)] = value
        elif kind == 2:
            data[at:at] = rng.randbytes(rng.randrange(1, 64))
        elif kind == 3:
            del data[at:at + rng.randrange(1, 256)]
        elif kind == 4:
            chunk = data[at:at + rng.randrange(1, 512)]
            where = rng.randrange(len(data))
            data[where:where] = chunk * rng.choice([1, 2, 16])
        elif kind == 5:
            del data[at:]
        elif kind == 6:
            data[at] = rng.randrange(256)
        else:
            other = rng.choice(others)
            cut = rng.randrange(len(other)) if other else 0
            data[at:] = other[cut:cut + rng.randrange(1, 4096)]
    return bytes(data)


def json_mutation(text, rng):
    """Replaces a few numbers or values in JSON text, keeping it JSON most of the time."""
    matches = list(re.finditer(rb"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null|\"[^\"]*\"", text))
    if not matches:
        return text
    out = text
    for m in sorted(rng.sample(matches, min(len(matches), rng.choice([1, 1, 2, 3]))), key=lambda m: -m.start()):
        out = out[:m.start()] + rng.choice(JSON_NUMBERS).encode() + out[m.end():]
    return out


def pth_structured(data, rng, others):
    """Mutates the pickle inside a .pth and re-zips it with valid checksums."""
    try:
        src = zipfile.ZipFile(io.BytesIO(data))
        entries = [(i.filename, src.read(i)) for i in src.infolist()]
    except Exception:
        return byte_mutation(data, rng, others)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name, body in entries:
            if name.endswith("data.pkl") or (rng.random() < 0.05 and "/data/" in name):
                body = byte_mutation(body, rng, [body])
            z.writestr(name, body)
    return out.getvalue()


def safetensors_structured(data, rng, others):
    if len(data) < 8:
        return byte_mutation(data, rng, others)
    (n,) = struct.unpack("<Q", data[:8])
    header = json_mutation(data[8:8 + n], rng)
    return struct.pack("<Q", len(header)) + header + data[8 + n:]


def png_structured(data, rng, others):
    """Mutates one chunk's data (IHDR, IDAT, ...) and gives it a valid CRC again."""
    import zlib
    chunks, at = [], 8
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        chunks.append([kind, body])
        at += 12 + length
    if not chunks:
        return byte_mutation(data, rng, others)
    chunk = rng.choice(chunks[:3] if rng.random() < 0.5 else chunks)
    chunk[1] = byte_mutation(chunk[1], rng, [chunk[1]])
    out = bytearray(data[:8])
    for kind, body in chunks:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return bytes(out)


def mutate(fmt, data, rng, others):
    structured = rng.random() < 0.5
    if fmt == "pth" and structured:
        return pth_structured(data, rng, others)
    if fmt == "safetensors" and structured:
        return safetensors_structured(data, rng, others)
    if fmt == "manifest" and structured:
        return json_mutation(data, rng)
    if fmt == "png" and structured:
        return png_structured(data, rng, others)
    return byte_mutation(data, rng, others)


# --- running one mutant ------------------------------------------------------

def command(cli, fmt, path):
    if fmt in ("pth", "safetensors"):
        return [cli, "predict", "--weights", str(path), str(SMALL_IMAGE)], 2
    if fmt == "manifest":
        return [cli, "predict", "--model", str(path), str(SMALL_IMAGE)], 2
    return [cli, "predict", "--weights", str(MODEL), str(path)], 1


def run_one(cli, fmt, path, address_limit, seconds):
    argv, refusal_code = command(cli, fmt, path)

    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (address_limit, address_limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    err = tempfile.TemporaryFile()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            limits()
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            os.dup2(err.fileno(), 2)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    timed_out = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - started > seconds:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            timed_out = True
            break
        time.sleep(0.005)
    err.seek(0)
    stderr = err.read().decode("utf-8", "replace")
    err.close()
    peak = usage.ru_maxrss * 1024
    if timed_out:
        outcome = "timeout"
    elif os.WIFSIGNALED(status):
        outcome = "oom" if "memory allocation" in stderr else "signal"
    else:
        code = os.WEXITSTATUS(status)
        if code == 0:
            outcome = "accepted"
        elif code == 101 or "panicked" in stderr:
            outcome = "panic"
        elif code == refusal_code:
            outcome = "refused"
            if LEAKS.search(stderr) or path.name not in stderr:
                outcome = "unplain"
            elif peak > 2 * path.stat().st_size + 300 * MB:
                outcome = "over-memory"
        else:
            outcome = f"exit-{code}"
    return outcome, peak, time.monotonic() - started, stderr


# --- the run -----------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mutants", type=int, default=2000, help="mutants per format")
    parser.add_argument("--formats", default="pth,safetensors,manifest,png,jpeg,dicom")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--cli", default=str(ROOT / "target/release/chexlens"))
    parser.add_argument("--address-limit-gb", type=float, default=8.0)
    parser.add_argument("--seconds", type=float, default=20.0, help="wall-clock limit per mutant")
    args = parser.parse_args()
    if not os.access(args.cli, os.X_OK):
        sys.exit(f"{args.cli} is missing: cargo build --release --bin chexlens")

    work = Path(tempfile.mkdtemp(prefix="chexlens-mutants-"))
    findings = ROOT / "target/mutation-findings"
    address_limit = int(args.address_limit_gb * (1 << 30))
    rows, failed = [], 0
    for fmt in args.formats.split(","):
        rng = random.Random(f"{args.seed}-{fmt}")
        originals = [manifest_seed()] if fmt == "manifest" else [p.read_bytes() for p in seeds(fmt)]
        suffix = {"pth": ".pth", "safetensors": ".safetensors", "manifest": ".json", "png": ".png",
                  "jpeg": ".jpg", "dicom": ".dcm"}[fmt]
        jobs = []
        for i in range(args.mutants):
            path = work / f"{fmt}-{i:05d}{suffix}"
            path.write_bytes(mutate(fmt, rng.choice(originals), rng, originals))
            jobs.append(path)
        counts, peaks, slowest = {}, [], 0.0
        lock = threading.Lock()

        def one(path):
            nonlocal slowest
            outcome, peak, seconds, stderr = run_one(args.cli, fmt, path, address_limit, args.seconds)
            with lock:
                counts[outcome] = counts.get(outcome, 0) + 1
                slowest = max(slowest, seconds)
                if outcome in ("refused", "over-memory"):
                    peaks.append((peak - 2 * path.stat().st_size) / MB)
                if outcome not in ("accepted", "refused"):
                    keep = findings / fmt
                    keep.mkdir(parents=True, exist_ok=True)
                    (keep / path.name).write_bytes(path.read_bytes())
                    (keep / (path.name + ".stderr")).write_text(stderr)
            path.unlink()

        started = time.monotonic()
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, jobs))
        bad = sum(v for k, v in counts.items() if k not in ("accepted", "refused"))
        failed += bad
        rows.append((fmt, args.mutants, counts, max(peaks, default=0.0), slowest, time.monotonic() - started))
        print(f"mutation run: {fmt}: {counts} in {time.monotonic() - started:.0f} s", flush=True)

    columns = ["accepted", "refused", "panic", "signal", "timeout", "oom", "over-memory", "unplain"]
    print()
    print("| format | mutants | " + " | ".join(columns) + " | other | peak - 2x size (MB, refused) | slowest (s) |")
    print("|---" * (len(columns) + 5) + "|")
    for fmt, n, counts, peak, slowest, _ in rows:
        other = sum(v for k, v in counts.items() if k not in columns)
        cells = " | ".join(str(counts.get(c, 0)) for c in columns)
        print(f"| {fmt} | {n} | {cells} | {other} | {peak:.0f} (bound 300) | {slowest:.1f} |")
    print()
    print(f"limits: {args.address_limit_gb:g} GB address space, {args.seconds:g} s per mutant")
    if failed:
        print(f"{failed} mutants failed; they are in {findings.relative_to(ROOT)}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
