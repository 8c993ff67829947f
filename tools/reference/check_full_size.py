#!/usr/bin/env python3
"""Full-size check: a generated convnext_base checkpoint (~350 MB, original
.pth layout, not committed) through `chexlens predict`, against PyTorch and
pytorch-grad-cam, on a synthetic PNG radiograph and on a real chest
radiograph saved as JPEG (the format CheXpert ships).

    bash scripts/fetch-dicom-samples     # the chest radiograph
    cargo build --release --bin chexlens
    python3 tools/reference/check_full_size.py [--dir /tmp/chexlens-full]

Prints, per image, the largest probability difference and the largest
Grad-CAM difference at the target layer (every label's map), and chexlens's
load and predict times. Fails above 1e-5 (probabilities) or 1e-3 (maps).
Then every explanation method at both layers and the faithfulness measures on
the real radiograph (tools/reference/cam_methods_reference.py --full),
checked by crates/chexlens-model/tests/cam_methods.rs on this folder: maps
to 1e-3, metrics to 1e-4.
Requires torch, timm and grad-cam (for the generator) once; the files are
then reused.
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/chexlens-full")
    args = parser.parse_args()
    out = Path(args.dir)
    expected_file = out / "full_expected.json"
    if not expected_file.exists() or "full_chest.jpg" not in json.loads(expected_file.read_text()):
        subprocess.run([sys.executable, str(ROOT / "tools/reference/generate_fixtures.py"), "--full", str(out)], check=True)
    expected = json.loads(expected_file.read_text())
    worst_p = worst_cam = 0.0
    for image, reference in expected.items():
        # Threshold 0: every label is a finding, and every finding carries its map.
        run = subprocess.run(
            [str(ROOT / "target/release/chexlens"), "predict", "--json", "--timings", "--threshold", "0",
             "--weights", str(out / "convnext_base_full.pth"), str(out / image)],
            capture_output=True, text=True, check=True,
        )
        result = json.loads(run.stdout)
        got = list(result["probabilities"].values())
        p_diff = max(abs(a - b) for a, b in zip(got, reference["probabilities"]))
        labels = list(result["probabilities"].keys())
        cam_diff = 0.0
        for finding in result["findings"]:
            ours = finding["cam"]
            theirs = reference["cams"][str(labels.index(finding["label"]))]
            cam_diff = max(cam_diff, max(abs(a - b) for ro, rt in zip(ours, theirs) for a, b in zip(ro, rt)))
        assert len(result["findings"]) == len(labels), "every label carries its map"
        print(run.stderr.strip())
        print(f"{image}: max |p_chexlens - p_pytorch| = {p_diff:.3e} over {len(got)} labels; "
              f"max |cam_chexlens - cam_pytorch_grad_cam| = {cam_diff:.3e} over {len(labels)} maps "
              f"of {len(ours)}x{len(ours[0])}")
        worst_p, worst_cam = max(worst_p, p_diff), max(worst_cam, cam_diff)
    if not (out / "full_cam_methods.json").exists():
        subprocess.run([sys.executable, str(ROOT / "tools/reference/cam_methods_reference.py"), "--full", str(out)],
                       check=True)
    methods = subprocess.run(
        ["cargo", "test", "--release", "-p", "chexlens-model", "--test", "cam_methods"],
        cwd=ROOT, env={**os.environ, "CHEXLENS_CAM_REFERENCE": str(out)},
    )
    print(f"every method at both layers, and the faithfulness measures, on the full-size member: "
          f"{'match' if methods.returncode == 0 else 'FAIL'}")
    sys.exit(0 if worst_p <= 1e-5 and worst_cam <= 1e-3 and methods.returncode == 0 else 1)


if __name__ == "__main__":
    main()
