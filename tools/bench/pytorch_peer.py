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

With --batch [DIR], it times a batch job instead: `chexlens predict` over
every JPEG in DIR (start-up, weight loading and all, as a user waits for
it) against PyTorch doing the same job inside its own process (reading,
decoding, preprocessing as the reference pipeline does, and each member's
forward pass, image by image; its start-up and loading are not charged),
with --members members (2 for the figure the issues quote). Without DIR it
writes 16 real chest radiograph JPEGs (the DICOM WG04 CR films RG1 and
RG3, from pydicom's 8-bit display of them in
target/dicom-samples/reference, in crops and flips) to --dir/jpegs. Both
sides' probabilities are compared, so the ratio compares the same work.

With --cam-methods, it times the heat maps instead: every method at both
layers (`chexlens bench --cam-methods`, 14 labels from the kept pass, one
member) against pytorch-grad-cam doing the same maps the way it does them (a
forward and a backward pass over a batch of --cam-labels copies of the image,
one target each), and prints the time per label on both sides and their
ratio. Needs grad-cam as well.

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


def pytorch_cams(file, size, metadata, labels, warmup):
    """pytorch-grad-cam's time per label for each method at each layer."""
    import torch
    from pytorch_grad_cam import (EigenCAM, EigenGradCAM, GradCAM, GradCAMElementWise, GradCAMPlusPlus,
                                  HiResCAM, LayerCAM, XGradCAM)
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    torch.set_num_threads(usable_cores())
    model = load_member(file)
    meta = torch.tensor([metadata] * labels, dtype=torch.float32)

    class FixedMetadata(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(x, meta[: x.shape[0]])

    wrapped = FixedMetadata().eval()
    methods = {"gradcam": GradCAM, "layercam": LayerCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM,
               "hirescam": HiResCAM, "gradcam-elementwise": GradCAMElementWise, "eigencam": EigenCAM,
               "eigengradcam": EigenGradCAM}
    layers = {"last": model.convnext_backbone.stages_3.blocks[-1].conv_dw,
              "stages_2": model.convnext_backbone.stages_2.blocks[-1].conv_dw}
    x = torch.from_numpy(bench_pixels(size).reshape(1, 3, size, size)).repeat(labels, 1, 1, 1)
    targets = [ClassifierOutputTarget(label) for label in range(labels)]
    times = {}
    for layer_name, layer in layers.items():
        for name, method in methods.items():
            with method(model=wrapped, target_layers=[layer]) as cam:
                runs = time_runs(warmup, 1, lambda: cam(input_tensor=x, targets=targets))
            times[f"{name}/{layer_name}"] = runs["median"] / labels
    return times


def cam_methods(args, cli):
    files = checkpoints(Path(args.dir), 1)
    ours = json.loads(subprocess.run(
        [str(cli), "bench", "--json", "--cam-methods", "--labels", "14", "--runs", str(args.runs),
         "--warmup", str(args.warmup), "--weights", str(files[0])],
        capture_output=True, text=True, check=True).stdout)
    job = {"file": str(files[0]), "size": ours["size"], "metadata": ours["metadata"],
           "labels": args.cam_labels, "warmup": min(args.warmup, 1)}
    theirs = json.loads(subprocess.run(
        [sys.executable, __file__, "--pytorch-cams", json.dumps(job)],
        capture_output=True, text=True, check=True).stdout)
    print(f"chexlens heat maps vs pytorch-grad-cam on {usable_cores()} cores: one convnext_base member, "
          f"{ours['size']}x{ours['size']}; chexlens: 14 labels from the kept pass, median of {args.runs}; "
          f"pytorch-grad-cam: a batch of {args.cam_labels} labels, forward and backward")
    print(f"{'per label':<34}{'chexlens':>12}{'pytorch-grad-cam':>18}{'ratio':>8}")
    for entry in ours["cam_methods_s"]:
        key = f"{entry['method']}/{entry['layer']}"
        a, b = entry["time"]["median"] / ours["gradcam_labels"], theirs[key]
        print(f"{entry['method'] + ', ' + entry['layer']:<34}{a * 1000:>9.1f} ms{b * 1000:>15.1f} ms{a / b:>8.3f}")
    print(f"faithfulness of one map (chexlens, 9 passes of one member): {ours['faithfulness_s']['median']:.2f} s")


# Metadata::default(), encoded: male, 50, frontal, PA (as generate_fixtures.py's "reference_default").
DEFAULT_METADATA = [0, 50, 0, 1, 0, 1, 0, 0]
MEAN, STD = 0.5029414296150208, 0.2892409563064575


def real_chest_jpegs(out, count=16):
    """Real radiographs as JPEGs (quality 95): RG1 (CR chest PA) and RG3 (CR
    AP) as pydicom displays them, each in crops of 90% at different corners
    and mirrored, so that no two files are the same."""
    import numpy as np
    from PIL import Image

    reference = ROOT / "target/dicom-samples/reference"
    index = json.loads((reference / "index.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    films = []
    for name in ("RG1_UNCR.dcm", "RG3_UNCR.dcm"):
        sample = next(s for s in index["samples"] if s["file"] == name)
        pixels = np.fromfile(reference / f"{name}.display.u8", dtype=np.uint8)
        films.append((name, pixels.reshape(sample["rows"], sample["columns"])))
    files = []
    for i in range(count):
        name, film = films[i % len(films)]
        h, w = film.shape
        ch, cw = int(h * 0.9), int(w * 0.9)
        corner = (i // len(films)) % 4
        y, x = (corner // 2) * (h - ch), (corner % 2) * (w - cw)
        crop = film[y:y + ch, x:x + cw]
        if (i // (len(films) * 4)) % 2:
            crop = crop[:, ::-1]
        path = out / f"{i:02d}_{name.split('_')[0]}.jpg"
        if not path.exists():
            Image.fromarray(np.ascontiguousarray(crop)).save(path, quality=95)
        files.append(path)
    return files


def pytorch_batch(files, images, size, device):
    """The batch job inside PyTorch's process: timed from the first file's
    read to the last file's probabilities."""
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(usable_cores())
    done = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    models = [load_member(f).to(device) for f in files]
    meta = torch.tensor([DEFAULT_METADATA], dtype=torch.float32).to(device)
    probabilities = []
    t = time.perf_counter()
    with torch.inference_mode():
        for path in images:
            # The reference pipeline: RGB, Resize (bilinear, antialiased), ToTensor, Normalize.
            rgb = Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR)
            a = (np.asarray(rgb, dtype=np.float32) / 255.0 - MEAN) / STD
            x = torch.from_numpy(a.transpose(2, 0, 1).copy()).unsqueeze(0).to(device)
            p = torch.stack([torch.sigmoid(m(x, meta)[0]) for m in models]).mean(0)
            probabilities.append(p.cpu().tolist())
    done()
    return {"torch": torch.__version__, "batch_s": time.perf_counter() - t, "probabilities": probabilities}


def batch(args, cli):
    files = checkpoints(Path(args.dir), args.members)
    images = sorted(Path(args.batch).glob("*.jp*g")) if args.batch != "real" else real_chest_jpegs(Path(args.dir) / "jpegs")
    if not images:
        sys.exit(f"no JPEGs in {args.batch}")
    t = time.perf_counter()
    out = subprocess.run(
        [str(cli), "predict", "--json", "--weights", ",".join(map(str, files)), "--device", "gpu" if args.gpu else "cpu",
         *map(str, images)], capture_output=True, text=True, check=True).stdout
    ours_s = time.perf_counter() - t
    ours = [json.loads(line)["probabilities"] for line in out.strip().splitlines()]
    job = {"files": list(map(str, files)), "images": list(map(str, images)), "size": 384,
           "device": "cuda" if args.gpu else "cpu"}
    theirs = json.loads(subprocess.run(
        [sys.executable, __file__, "--pytorch-batch", json.dumps(job)],
        capture_output=True, text=True, check=True).stdout)
    drift = max(abs(a[k] - b) for a, row in zip(ours, theirs["probabilities"]) for k, b in zip(a, row))
    where = "one GPU" if args.gpu else f"{usable_cores()} cores"
    print(f"chexlens predict vs PyTorch {theirs['torch']} on {where}: {len(images)} JPEGs, "
          f"{args.members} convnext_base member(s)")
    print(f"chexlens, whole command (start-up and loading included): {ours_s:8.2f} s")
    print(f"PyTorch, inside its process (start-up and loading not charged): {theirs['batch_s']:8.2f} s")
    print(f"ratio chexlens / PyTorch: {ours_s / theirs['batch_s']:.2f}")
    print(f"largest probability difference: {drift:.2e}")
    if drift > 1e-3:
        sys.exit("the two sides computed different probabilities: the ratio would compare different work")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default="/tmp/chexlens-bench")
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--gpu", action="store_true", help="chexlens on wgpu/Vulkan, PyTorch on CUDA")
    parser.add_argument("--cli", default=str(CLI), help="the chexlens binary (with --gpu, one built with --features gpu)")
    parser.add_argument("--batch", nargs="?", const="real", metavar="DIR",
                        help="time `chexlens predict` over DIR's JPEGs (default: 16 real chest radiographs)")
    parser.add_argument("--cam-methods", action="store_true",
                        help="time every heat-map method at both layers against pytorch-grad-cam")
    parser.add_argument("--cam-labels", type=int, default=2,
                        help="with --cam-methods, the labels pytorch-grad-cam is timed on (a batch)")
    parser.add_argument("--pytorch-side", metavar="JSON", help=argparse.SUPPRESS)
    parser.add_argument("--pytorch-cams", metavar="JSON", help=argparse.SUPPRESS)
    parser.add_argument("--pytorch-batch", metavar="JSON", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.pytorch_side:
        job = json.loads(args.pytorch_side)
        print(json.dumps(pytorch_side(**job)))
        return
    if args.pytorch_batch:
        print(json.dumps(pytorch_batch(**json.loads(args.pytorch_batch))))
        return
    if args.pytorch_cams:
        print(json.dumps(pytorch_cams(**json.loads(args.pytorch_cams))))
        return
    cli = Path(args.cli)
    if not cli.exists():
        sys.exit(f"{cli} is missing: cargo build --release --bin chexlens")
    if args.batch:
        batch(args, cli)
        return
    if args.cam_methods:
        cam_methods(args, cli)
        return

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
