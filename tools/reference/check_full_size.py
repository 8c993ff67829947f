#!/usr/bin/env python3
"""Full-size check: a generated convnext_base checkpoint (~350 MB, original
.pth layout, not committed) through `chexlens predict`, against PyTorch.

    cargo build --release --bin chexlens
    python3 tools/reference/check_full_size.py [--dir /tmp/chexlens-full]

Prints the largest probability difference and chexlens's load and predict times.
Requires torch and timm (for the generator) once; the files are then reused.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/chexlens-full")
    args = parser.parse_args()
    out = Path(args.dir)
    if not (out / "full_expected.json").exists():
        subprocess.run([sys.executable, str(ROOT / "tools/reference/generate_fixtures.py"), "--full", str(out)], check=True)
    expected = json.loads((out / "full_expected.json").read_text())
    run = subprocess.run(
        [str(ROOT / "target/release/chexlens"), "predict", "--json", "--timings",
         "--weights", str(out / "convnext_base_full.pth"), str(out / expected["image"])],
        capture_output=True, text=True, check=True,
    )
    got = list(json.loads(run.stdout)["probabilities"].values())
    diff = max(abs(a - b) for a, b in zip(got, expected["probabilities"]))
    print(run.stderr.strip())
    print(f"max |p_chexlens - p_pytorch| = {diff:.3e} over {len(got)} labels")
    sys.exit(0 if diff <= 1e-4 else 1)


if __name__ == "__main__":
    main()
