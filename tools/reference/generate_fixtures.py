#!/usr/bin/env python3
"""Reference fixtures for chexlens, made with PyTorch, timm and Pillow.

Builds small ConvNeXtWithMetadata models with exactly the key structure of the
real checkpoints (timm convnext_base in features_only mode + CBAM + metadata MLP
+ classifier), perturbs every weight so that no block is close to identity,
saves them in the layouts the real files come in, and writes the reference
outputs that the Rust tests compare against. CI only reads what this script
wrote; it never needs PyTorch.

    python3 tools/reference/generate_fixtures.py            # committed fixtures
    python3 tools/reference/generate_fixtures.py --full DIR # convnext_base, not committed
                                                            # (pydicom too, for the chest JPEG)
    python3 tools/reference/generate_fixtures.py --demo public/models/demo

Requires: torch, timm, safetensors, pillow, numpy, grad-cam (pytorch-grad-cam), opencv-python-headless.
"""

import argparse
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn as nn
from PIL import Image
from safetensors.torch import save_file

from reference_model import ConvNeXtWithMetadata, perturbed_model

MEAN = 0.5029414296150208
STD = 0.2892409563064575
INPUT_SIZE = 384
LABELS = [
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity",
    "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis",
    "Pneumothorax", "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices",
]
# Metadata vectors in chexlens's encoding (DESIGN.md): sex, age, age missing,
# frontal, AP, PA, no AP/PA label, AP/PA unknown.
METADATA_CASES = {
    "reference_default": [0, 50, 0, 1, 0, 1, 0, 0],
    "female_71_ap": [1, 71, 0, 1, 1, 0, 0, 0],
    "male_unknown_age_lateral": [0, 0, 1, 0, 0, 0, 1, 0],
    "female_33_unknown_projection": [1, 33, 0, 1, 0, 0, 0, 1],
}

TINY_DEPTHS = (1, 1, 2, 1)
TINY_DIMS = (16, 32, 48, 64)


# The reference model (and its perturbed weights) live in reference_model.py.


# --- preprocessing, exactly as the reference pipeline -------------------------

def to_8bit_rgb(image):
    """chexlens's rule before the reference transforms: 16-bit grey maps its full
    range onto 0..255 (Pillow's own convert would clip everything above 255)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(image, dtype=np.float64)
        image = Image.fromarray(np.clip(np.rint(a * 255.0 / 65535.0), 0, 255).astype(np.uint8))
    return image.convert("RGB")


def resized(image, resample=Image.BILINEAR):
    # torchvision's Resize on a PIL image calls PIL's resize with this filter.
    return to_8bit_rgb(image).resize((INPUT_SIZE, INPUT_SIZE), resample)


def to_input(resized_rgb):
    a = np.asarray(resized_rgb, dtype=np.float32) / 255.0
    a = (a - MEAN) / STD
    return torch.from_numpy(a.transpose(2, 0, 1).copy()).unsqueeze(0)


# --- synthetic radiographs of real size ---------------------------------------

def synthetic_radiograph(width, height, seed):
    """A chest-radiograph-like field: soft body, two lung fields, ribs, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = (x - width / 2) / (width / 2), (y - height / 2) / (height / 2)
    body = np.exp(-(u / 0.85) ** 6 - (v / 0.95) ** 6)
    lungs = np.exp(-(((u - 0.38) / 0.28) ** 2 + ((v + 0.05) / 0.55) ** 2) * 2) + \
        np.exp(-(((u + 0.38) / 0.28) ** 2 + ((v + 0.05) / 0.55) ** 2) * 2)
    ribs = 0.08 * np.sin(v * 38 + 2 * u ** 2) * (lungs > 0.2)
    heart = np.exp(-(((u + 0.12) / 0.25) ** 2 + ((v - 0.25) / 0.25) ** 2) * 2)
    img = 0.15 + 0.7 * body - 0.45 * lungs + ribs + 0.3 * heart
    img += 0.004 * rng.standard_normal(img.shape)
    return np.clip(img, 0, 1)


def write_images(out):
    images = []
    field = synthetic_radiograph(1600, 1900, 1)
    Image.fromarray(np.rint(field * 255).astype(np.uint8)).save(out / "xray_grey8.png")
    images.append({"file": "xray_grey8.png", "kind": "png grey 8-bit"})

    field = synthetic_radiograph(1000, 1200, 2)
    Image.fromarray(np.rint(field * 65535).astype(np.uint16)).save(out / "xray_grey16.png")
    images.append({"file": "xray_grey16.png", "kind": "png grey 16-bit"})

    field = synthetic_radiograph(1024, 900, 3)
    rgb = np.stack([field, field * 0.97, field * 0.9], axis=-1)
    Image.fromarray(np.rint(rgb * 255).astype(np.uint8)).save(out / "xray_rgb.png")
    images.append({"file": "xray_rgb.png", "kind": "png rgb 8-bit"})

    field = synthetic_radiograph(900, 1100, 4)
    grey = np.rint(field * 255).astype(np.uint8)
    alpha = np.full_like(grey, 200)
    Image.fromarray(np.stack([grey, grey, grey, alpha], axis=-1), "RGBA").save(out / "xray_rgba.png")
    images.append({"file": "xray_rgba.png", "kind": "png rgba 8-bit"})

    field = synthetic_radiograph(2000, 2400, 5)
    Image.fromarray(np.rint(field * 255).astype(np.uint8)).save(out / "xray_grey.jpg", quality=90)
    images.append({"file": "xray_grey.jpg", "kind": "jpeg grey"})
    return images


# --- checkpoint layouts -------------------------------------------------------

class ForbiddenCall:
    """Pickles as a call of os.system: a loader that executes pickles would run it."""

    def __reduce__(self):
        return (os.system, ("echo chexlens-test-should-never-run",))


def save_weights(model, out, stem):
    sd = model.state_dict()
    torch.save(sd, out / f"{stem}.pth")
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out / f"{stem}.safetensors"))


def save_hostile(sd, out):
    """Broken and hostile weight files, all written in the real formats."""
    wrong = dict(sd)
    wrong["classifier.weight"] = torch.zeros(14, 7)
    torch.save(wrong, out / "bad_wrong_shape.pth")

    missing = {k: v for k, v in sd.items() if k != "cbam.spatial_attention.0.weight"}
    torch.save(missing, out / "bad_missing_key.pth")

    extra = dict(sd)
    extra["head.fc.weight"] = torch.zeros(2, 2)
    torch.save(extra, out / "bad_extra_key.pth")

    nan = dict(sd)
    bad = nan["convnext_backbone.stages_2.blocks.1.mlp.fc1.weight"].clone()
    bad[3, 5] = float("nan")
    nan["convnext_backbone.stages_2.blocks.1.mlp.fc1.weight"] = bad
    torch.save(nan, out / "bad_nan.pth")

    torch.save({"model_state_dict": sd, "hook": ForbiddenCall()}, out / "bad_os_system.pth")

    raw = (out / "tiny_m0.pth").read_bytes()
    (out / "bad_truncated.pth").write_bytes(raw[: len(raw) // 2])

    st = (out / "tiny_m0.safetensors").read_bytes()
    header_len = int.from_bytes(st[:8], "little")
    header = json.loads(st[8 : 8 + header_len])
    # Claim a last tensor that runs past the end of the file.
    last = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][1])
    begin, end = header[last]["data_offsets"]
    header[last]["data_offsets"] = [begin, end + 4096]
    header[last]["shape"] = [(end + 4096 - begin) // 4]
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    (out / "bad_safetensors_overclaim.safetensors").write_bytes(
        len(text).to_bytes(8, "little") + text + st[8 + header_len :]
    )


def f16_roundtrip(model):
    """The f32 model a loader of an f16 file must rebuild."""
    rounded = ConvNeXtWithMetadata(TINY_DEPTHS, TINY_DIMS).eval()
    rounded.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    return rounded


def bf16_roundtrip(model):
    rounded = ConvNeXtWithMetadata(TINY_DEPTHS, TINY_DIMS).eval()
    rounded.load_state_dict({k: v.bfloat16().float() for k, v in model.state_dict().items()})
    return rounded


def outputs(model, image_tensor):
    cases = {}
    with torch.no_grad():
        for name, meta in METADATA_CASES.items():
            logits = model(image_tensor, torch.tensor([meta], dtype=torch.float32))[0]
            cases[name] = {
                "logits": logits.double().tolist(),
                "probabilities": torch.sigmoid(logits).double().tolist(),
            }
    return cases


def committed_fixtures(out):
    out.mkdir(parents=True, exist_ok=True)
    images = write_images(out)
    for entry in images:
        with Image.open(out / entry["file"]) as im:
            resized(im).save(out / ("resized_" + Path(entry["file"]).stem + ".png"))
            resized(im, Image.BICUBIC).save(out / ("resized_bicubic_" + Path(entry["file"]).stem + ".png"))
        entry["resized"] = "resized_" + Path(entry["file"]).stem + ".png"
        entry["resized_bicubic"] = "resized_bicubic_" + Path(entry["file"]).stem + ".png"

    members = [perturbed_model(TINY_DEPTHS, TINY_DIMS, seed) for seed in (11, 12, 13)]
    save_weights(members[0], out, "tiny_m0")
    # Member 1 as a training checkpoint from DataParallel, with other entries beside it.
    sd1 = {"module." + k: v for k, v in members[1].state_dict().items()}
    torch.save({"epoch": 7, "model_state_dict": sd1, "best_auc": 0.8125,
                "note": "ensemble member 1", "history": [0.7, 0.75, 0.8125]},
               out / "tiny_m1_checkpoint.pth")
    save_weights(members[2], out, "tiny_m2")
    half = {k: v.half() for k, v in members[0].state_dict().items()}
    torch.save(half, out / "tiny_m0_f16.pth")
    save_file({k: v.contiguous() for k, v in half.items()}, str(out / "tiny_m0_f16.safetensors"))
    bf = {k: v.bfloat16().contiguous() for k, v in members[0].state_dict().items()}
    save_file(bf, str(out / "tiny_m0_bf16.safetensors"))
    save_hostile(members[0].state_dict(), out)

    reference = {
        "generator": "tools/reference/generate_fixtures.py",
        "torch": torch.__version__, "timm": timm.__version__, "pillow": Image.__version__,
        "depths": TINY_DEPTHS, "dims": TINY_DIMS, "input_size": INPUT_SIZE,
        "mean": MEAN, "std": STD, "labels": LABELS, "metadata_cases": METADATA_CASES,
        "images": images, "members": {}, "ensemble": {},
    }
    variants = {
        "tiny_m0": members[0], "tiny_m1": members[1], "tiny_m2": members[2],
        "tiny_m0_f16": f16_roundtrip(members[0]), "tiny_m0_bf16": bf16_roundtrip(members[0]),
    }
    for entry in images:
        with Image.open(out / entry["resized"]) as im:
            x = to_input(im.convert("RGB"))
        for name, model in variants.items():
            reference["members"].setdefault(name, {})[entry["file"]] = outputs(model, x)
        per_member = [reference["members"][f"tiny_m{i}"][entry["file"]] for i in range(3)]
        reference["ensemble"][entry["file"]] = {
            case: {"probabilities": np.mean([m[case]["probabilities"] for m in per_member], axis=0).tolist()}
            for case in METADATA_CASES
        }
    (out / "reference.json").write_text(json.dumps(reference, indent=1))
    grad_cam_fixtures(out, members, images[0]["resized"])


# --- Grad-CAM, by pytorch-grad-cam ----------------------------------------------

CAM_LABELS = [0, 3, 9, 13]


class FixedMetadata(nn.Module):
    """pytorch-grad-cam calls model(x): hold the metadata fixed, as the reference does."""

    def __init__(self, model, metadata):
        super().__init__()
        self.model = model
        self.register_buffer("metadata", torch.tensor([metadata], dtype=torch.float32))

    def forward(self, x):
        return self.model(x, self.metadata)


def grad_cams(model, x, metadata, labels):
    """Per label: the map at the target layer's resolution (min-max scaled, as
    pytorch-grad-cam scales it) and the library's own upsampled output."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.image import scale_cam_image
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    last_block = model.convnext_backbone.stages_3.blocks[-1]
    layer = last_block.conv_dw
    wrapped = FixedMetadata(model, metadata).eval()
    out = {}
    with GradCAM(model=wrapped, target_layers=[layer]) as cam:
        for label in labels:
            targets = [ClassifierOutputTarget(label)]
            upsampled = cam(input_tensor=x, targets=targets)[0]
            acts = cam.activations_and_grads.activations[0].cpu().numpy()
            grads = cam.activations_and_grads.gradients[0].cpu().numpy()
            raw = cam.get_cam_image(x, layer, targets, acts, grads, False)
            small = scale_cam_image(np.maximum(raw, 0))[0]
            out[label] = (small, upsampled)
    return out


def grad_cam_fixtures(out, members, image_file):
    import cv2
    with Image.open(out / image_file) as im:
        x = to_input(im.convert("RGB"))
    meta = METADATA_CASES["reference_default"]
    reference = {"image": image_file, "metadata_case": "reference_default", "labels": CAM_LABELS,
                 "members": {}, "ensemble": {}, "upsampled": {}}
    per_member = []
    for i, model in enumerate(members):
        cams = grad_cams(model, x, meta, CAM_LABELS)
        per_member.append(cams)
        reference["members"][f"tiny_m{i}"] = {str(l): cams[l][0].tolist() for l in CAM_LABELS}
    from pytorch_grad_cam.utils.image import scale_cam_image
    for label in CAM_LABELS:
        # The ensemble rule: mean of the members' scaled maps, scaled again.
        mean = np.mean([c[label][0] for c in per_member], axis=0)
        ensemble = scale_cam_image(mean[None])[0]
        reference["ensemble"][str(label)] = ensemble.tolist()
    # Upsampled maps as raw little-endian f32, 384 x 384: pytorch-grad-cam's own
    # output for one member, and the ensemble map resized the same way.
    label = CAM_LABELS[1]
    per_member[0][label][1].astype("<f4").tofile(out / "cam_upsampled_m0.f32")
    ens = np.asarray(reference["ensemble"][str(label)], dtype=np.float32)
    scale_cam_image(ens[None], (INPUT_SIZE, INPUT_SIZE))[0].astype("<f4").tofile(out / "cam_upsampled_ensemble.f32")
    reference["upsampled"] = {"label": label, "size": INPUT_SIZE, "member": "cam_upsampled_m0.f32",
                              "ensemble": "cam_upsampled_ensemble.f32", "cv2": cv2.__version__}
    (out / "gradcam.json").write_text(json.dumps(reference))


def chest_jpeg(dicom_file, target):
    """A real chest radiograph (DICOM WG04 RG1, CR PA, MONOCHROME1, from
    scripts/fetch-dicom-samples) as CheXpert ships its images: 8-bit grey
    JPEG, quality 90, windowed to its 0.5-99.5 percentiles."""
    import pydicom
    ds = pydicom.dcmread(dicom_file)
    values = ds.pixel_array.astype(np.float64)
    low, high = np.percentile(values, [0.5, 99.5])
    grey = np.clip((values - low) / (high - low) * 255, 0, 255)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        grey = 255 - grey
    Image.fromarray(np.rint(grey).astype(np.uint8)).save(target, quality=90)


def full_size(out, dicom_file):
    """A convnext_base checkpoint (~350 MB) in the original .pth layout, plus
    its expected output on a synthetic PNG and on a real chest JPEG, with
    pytorch-grad-cam's maps for every label on both."""
    out.mkdir(parents=True, exist_ok=True)
    model = perturbed_model((3, 3, 27, 3), (128, 256, 512, 1024), 21)
    torch.save({"model_state_dict": model.state_dict(), "epoch": 1}, out / "convnext_base_full.pth")
    field = synthetic_radiograph(2000, 2400, 9)
    Image.fromarray(np.rint(field * 255).astype(np.uint8)).save(out / "full_xray.png")
    chest_jpeg(dicom_file, out / "full_chest.jpg")
    expected = {}
    for image in ("full_xray.png", "full_chest.jpg"):
        with Image.open(out / image) as im:
            x = to_input(resized(im))
        result = outputs(model, x)["reference_default"]
        labels = list(range(len(result["probabilities"])))
        cams = grad_cams(model, x, METADATA_CASES["reference_default"], labels)
        result["cams"] = {str(label): cams[label][0].tolist() for label in labels}
        expected[image] = result
    (out / "full_expected.json").write_text(json.dumps(expected, indent=1))


def demo_model(out):
    """The page's built-in demo: three small untrained members in the real format."""
    import hashlib
    out.mkdir(parents=True, exist_ok=True)
    members = []
    for i, seed in enumerate((101, 102, 103)):
        model = perturbed_model(TINY_DEPTHS, TINY_DIMS, seed)
        name = f"demo_member{i}.safetensors"
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / name))
        members.append({"weights": name, "sha256": hashlib.sha256((out / name).read_bytes()).hexdigest()})
    manifest = {
        "name": "chexlens demo (untrained)",
        "description": "Three small randomly initialised members with the real key structure. "
                       "Its numbers mean nothing; it shows the page working.",
        "demo": True,
        "members": members,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "crates/chexlens-model/tests/fixtures"))
    parser.add_argument("--full", metavar="DIR", help="write the full-size convnext_base check into DIR instead")
    parser.add_argument("--chest-dicom", default=str(Path(__file__).resolve().parents[2] / "target/dicom-samples/files/RG1_UNCR.dcm"),
                        help="the radiograph --full saves as a JPEG (scripts/fetch-dicom-samples fetches it)")
    parser.add_argument("--demo", metavar="DIR", help="write the page's demo model into DIR instead")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if args.full:
        full_size(Path(args.full), args.chest_dicom)
    elif args.demo:
        demo_model(Path(args.demo))
    else:
        committed_fixtures(Path(args.out))


if __name__ == "__main__":
    main()
