#!/usr/bin/env python3
"""Exports a generated convnext_base member to ONNX for the browser benchmark's
ONNX Runtime Web side (tools/bench/browser). The checkpoint is the one
tools/bench/pytorch_peer.py writes (the original .pth layout), so both
benchmarks run the same weights.

    python3 tools/bench/export_onnx.py CHECKPOINT.pth OUT.onnx

Requires torch, timm, onnx and onnxscript. PyTorch's logits for the bench
input are written beside it (OUT.expected.json): the browser side checks
that ONNX Runtime Web computes the same before it reports any time.
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pytorch_peer import bench_pixels, load_member  # noqa: E402

SIZE = 384


def main():
    checkpoint, out = Path(sys.argv[1]), Path(sys.argv[2])
    model = load_member(checkpoint)
    x = torch.from_numpy(bench_pixels(SIZE).reshape(1, 3, SIZE, SIZE))
    meta = torch.tensor([[0, 50, 0, 1, 0, 1, 0, 0]], dtype=torch.float32)
    with torch.inference_mode():
        logits = model(x, meta)[0]
    program = torch.onnx.export(
        model, (x, meta), dynamo=True, input_names=["image", "metadata"], output_names=["logits"],
        external_data=False, optimize=True,
    )
    program.save(str(out), external_data=False)
    (out.with_suffix(".expected.json")).write_text(json.dumps({
        "metadata": meta[0].tolist(),
        "size": SIZE,
        "logits": logits.tolist(),
    }))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.0f} MB)")


if __name__ == "__main__":
    main()
