#!/usr/bin/env python3
"""chexlens against PyTorch on this machine, in one invocation.

Both sides run the same convnext_base + CBAM + metadata checkpoints (generated
once in the original .pth layout, ~350 MB each, kept in --dir) on the same
input tensor (the fixed pattern `chexlens bench` uses) with every core, and
this prints chexlens/PyTorch ratios of load time, one forward, the ensemble
and peak memory; below 1.0 chexlens is faster or smaller. It also checks that
both computed the same logits, so the ratios compare like with like.

    cargo build --release --bin chexlens
    python3 tools/bench/pytorch_peer.py [--runs 5] [--members 3] [--dir /tmp/chexlens-bench]

With --gpu, chexlens runs on burn's wgpu backend through Vulkan (a build
with `--features gpu`, named by --cli) and PyTorch on CUDA, on the same GPU.

Requires torch and timm. Not run in CI (minutes, and 1 GB of checkpoints).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "target/release/chexlens"
DEPTHS, DIMS = (3, 3, 27, 3), (128, 256, 512, 1024)


def checkpoints(out, members):
    """Generated members in the original layout, written once."""
    sys.path.insert(0, str(ROOT / "tools/reference"))
    files = [out / f"convnext_base_member{i}.pth" for i in range(members)]
    missing = [f for f in files if not f.exists()]
    if missing:
        import torch
        from reference_model import perturbed_model

        out.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            if f in missing:
                print(f"writing {f} ...", file=sys.stderr)
                model = perturbed_model(DEPTHS, DIMS, 31 + i)
                torch.save({"model_state_dict": model.state_dict(), "epoch": 1}, f)
    return files


def bench_pixels(size):
    """The input `chexlens bench` uses, exactly (f32 at every step), flat."""
    import numpy as np

    i = np.arange(3 * size * size)
    return (((i % 997).astype(np.float32) / np.float32(997.0) - np.float32(0.5)) * np.float32(2.0)).astype(np.float32)


def load_member(path):
    """A member checkpoint in the original layout, as an eval-mode PyTorch model."""
    import torch

    sys.path.insert(0, str(ROOT / "tools/reference"))
    from reference_model import ConvNeXtWithMetadata

    model = ConvNeXtWithMetadata(DEPTHS, DIMS)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True)["model_state_dict"])
    return model.eval()


def usable_cores():
    """The cores this process may run on (taskset, container limits), as
    chexlens's thread pool counts them."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def stats(times):
    times = sorted(times)
    return {"median": times[len(times) // 2], "min": times[0], "max": times[-1]}


def time_runs(warmup, runs, f):
    for _ in range(warmup):
        f()
    times = []
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return stats(times)


def pytorch_side(files, size, metadata, runs, warmup, device):
    """Runs in its own process, so that its peak memory is its own."""
    import torch

    torch.set_num_threads(usable_cores())
    # GPU work is asynchronous: a timed run ends when the device is done.
    done = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    t = time.perf_counter()
    models = [load_member(f).to(device) for f in files]
    done()
    load = time.perf_counter() - t
    x = torch.from_numpy(bench_pixels(size).reshape(1, 3, size, size)).to(device)
    meta = torch.tensor([metadata], dtype=torch.float32).to(device)
    logits = {}
    with torch.inference_mode():
        def one():
            logits["m0"] = models[0](x, meta)[0]
            done()

        def ensemble():
            torch.stack([torch.sigmoid(m(x, meta)[0]) for m in models]).mean(0)
            done()

        forward = time_runs(warmup, runs, one)
        whole = time_runs(min(warmup, 1), runs, ensemble)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_s": load,
        "forward_s": forward,
        "ensemble_s": whole,
        "peak_memory_mb": peak_mb,
        "member0_logits": logits["m0"].cpu().tolist(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/tmp/chexlens-bench")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--gpu", action="store_true", help="chexlens on wgpu/Vulkan, PyTorch on CUDA")
    parser.add_argument("--cli", default=str(CLI), help="the chexlens binary (with --gpu, one built with --features gpu)")
    parser.add_argument("--pytorch-side", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.pytorch_side:
        job = json.loads(args.pytorch_side)
        print(json.dumps(pytorch_side(**job)))
        return
    cli = Path(args.cli)
    if not cli.exists():
        sys.exit(f"{cli} is missing: cargo build --release --bin chexlens")

    files = checkpoints(Path(args.dir), args.members)
    ours = json.loads(subprocess.run(
        [str(cli), "bench", "--json", "--runs", str(args.runs), "--warmup", str(args.warmup),
         "--weights", ",".join(map(str, files)), "--device", "gpu" if args.gpu else "cpu"],
        capture_output=True, text=True, check=True).stdout)
    job = {"files": list(map(str, files)), "size": ours["size"], "metadata": ours["metadata"],
           "runs": args.runs, "warmup": args.warmup, "device": "cuda" if args.gpu else "cpu"}
    theirs = json.loads(subprocess.run(
        [sys.executable, __file__, "--pytorch-side", json.dumps(job)],
        capture_output=True, text=True, check=True).stdout)

    drift = max(abs(a - b) for a, b in zip(ours["member0_logits"], theirs["member0_logits"]))
    where = "one GPU: chexlens on wgpu/Vulkan, PyTorch on CUDA" if args.gpu else f"{usable_cores()} cores"
    print(f"chexlens vs PyTorch {theirs['torch']} on {where}: "
          f"{args.members} convnext_base member(s), {ours['size']}x{ours['size']}, "
          f"median of {args.runs} runs after {args.warmup} warm-up")
    print(f"{'':<28}{'chexlens':>12}{'PyTorch':>12}{'ratio':>9}")

    def row(name, a, b, unit):
        print(f"{name:<28}{a:>10.3f} {unit:<1}{b:>10.3f} {unit:<1}{a / b:>9.2f}")

    row("load", ours["load_s"], theirs["load_s"], "s")
    row("forward, one member", ours["forward_s"]["median"], theirs["forward_s"]["median"], "s")
    row(f"ensemble of {args.members}", ours["ensemble_s"]["median"], theirs["ensemble_s"]["median"], "s")
    print(f"{'peak host memory' if args.gpu else 'peak memory':<28}{ours['peak_memory_mb']:>9.0f} MB{theirs['peak_memory_mb']:>9.0f} MB"
          f"{ours['peak_memory_mb'] / theirs['peak_memory_mb']:>9.2f}")
    print(f"chexlens Grad-CAM, {ours['gradcam_labels']} labels: {ours['gradcam_s']['median']:.3f} s = "
          f"{ours['gradcam_s']['median'] / ours['forward_s']['median']:.3f} of one forward")
    budget = 1.3 * ours["weight_mb"] + 300
    if not args.gpu:
        print(f"chexlens peak memory {ours['peak_memory_mb']:.0f} MB against 1.3 x {ours['weight_mb']:.0f} MB f32 weights"
              f" + 300 MB = {budget:.0f} MB")
    print(f"largest member-0 logit difference: {drift:.2e}")
    if drift > 1e-3:
        sys.exit("the two sides computed different logits: the ratios would compare different work")


if __name__ == "__main__":
    main()
