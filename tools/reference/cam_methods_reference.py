#!/usr/bin/env python3
"""Reference maps and faithfulness figures for every explanation method that
chexlens offers (--cam-method, --cam-layer, --cam-metrics), made by
pytorch-grad-cam on the committed tiny members, or on a full-size
convnext_base member and a real chest radiograph.

    python3 tools/reference/cam_methods_reference.py          # committed fixtures
    python3 tools/reference/cam_methods_reference.py --full DIR
        # DIR from generate_fixtures.py --full; check_full_size.py runs both, then
        # crates/chexlens-model/tests/cam_methods.rs on DIR (CHEXLENS_CAM_REFERENCE)

Writes cam_methods.json and the upsampled maps the metrics were measured on
(little-endian f32, input size squared): the Rust tests feed chexlens the same
maps, so the metrics are compared on equal inputs (the maps themselves are
compared at the layer's resolution). Requires what generate_fixtures.py does.

The eigen methods' projection has no defined sign (an SVD's); pytorch-grad-cam's
EigenCAM keeps LAPACK's. chexlens orients it as pytorch-grad-cam's
get_2d_projection_with_sign_correction does (largest magnitude positive), so
the reference maps below are that orientation of pytorch-grad-cam's own
projection, and "pytorch_sign_kept" says whether LAPACK's sign was the same.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from pytorch_grad_cam import (EigenCAM, EigenGradCAM, GradCAM, GradCAMElementWise, GradCAMPlusPlus,
                              HiResCAM, LayerCAM, XGradCAM)
from pytorch_grad_cam.metrics.cam_mult_image import CamMultImageConfidenceChange
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

import pytorch_grad_cam
from generate_fixtures import (INPUT_SIZE, METADATA_CASES, TINY_DEPTHS, TINY_DIMS, FixedMetadata, resized,
                               to_input)
from reference_model import perturbed_model

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates/chexlens-model/tests/fixtures"
METHODS = {
    "gradcam": GradCAM, "layercam": LayerCAM, "gradcam++": GradCAMPlusPlus, "xgradcam": XGradCAM,
    "hirescam": HiResCAM, "gradcam-elementwise": GradCAMElementWise, "eigencam": EigenCAM,
    "eigengradcam": EigenGradCAM,
}
EIGEN = ("eigencam", "eigengradcam")
LAYERS = {
    "last": lambda m: m.convnext_backbone.stages_3.blocks[-1].conv_dw,
    "stages_2": lambda m: m.convnext_backbone.stages_2.blocks[-1].conv_dw,
}
DELETED_PERCENT = (20, 40, 60, 80)


def method_maps(model, x, metadata, labels, method, layer_name):
    """Per label: the scaled map at the layer's resolution, the library's own
    upsampled map, whether (eigen methods) LAPACK's sign was kept, and the
    largest magnitudes of the map before scaling and of gradient x activation."""
    layer = LAYERS[layer_name](model)
    wrapped = FixedMetadata(model, metadata).eval()
    out = {}
    with METHODS[method](model=wrapped, target_layers=[layer]) as cam:
        for label in labels:
            targets = [ClassifierOutputTarget(label)]
            upsampled = cam(input_tensor=x, targets=targets)[0]
            acts = cam.activations_and_grads.activations[0].cpu().numpy()
            grads = cam.activations_and_grads.gradients
            grads = grads[0].cpu().numpy() if grads else None
            raw = cam.get_cam_image(x, layer, targets, acts, grads, False)
            kept = True
            if method in EIGEN and np.abs(raw.min()) > np.abs(raw.max()):
                raw, kept = -raw, False
            small = scale_cam_image(np.maximum(raw, 0))[0]
            if not kept:
                upsampled = scale_cam_image(small[None], (x.shape[3], x.shape[2]))[0]
            scale = float(np.abs(grads * acts).max()) if grads is not None else 0.0
            out[label] = (small, upsampled, kept, (float(np.abs(raw).max()), scale))
    return out


class EnsembleLogit(nn.Module):
    """The ensemble's score as chexlens defines it: the logit of the mean of
    the members' probabilities (a single member's logit is its own)."""

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x):
        p = torch.stack([torch.sigmoid(m(x)) for m in self.members]).double().mean(0)
        return torch.log(p / (1 - p))


def faithfulness(scored, x, upsampled, label):
    """CamMultImageConfidenceChange on the library's own map, and the deletion
    curve (the image mean put in, most / least relevant first, stable ties)."""
    targets = [ClassifierOutputTarget(label)]
    change = CamMultImageConfidenceChange()(x, upsampled[None].astype(np.float32), targets, scored)[0]
    with torch.no_grad():
        probability = lambda t: float(torch.sigmoid(scored(t)[0, label].double()))
        multiplied = probability(x * torch.from_numpy(upsampled.astype(np.float32)))
        order = np.argsort(-upsampled.ravel(), kind="stable")
        n = order.size
        mean = x[0].double().mean(dim=(1, 2)).float()
        deletion = []
        for percent in DELETED_PERCENT:
            count = n * percent // 100
            points = {}
            for name, chosen in (("most", order[:count]), ("least", order[n - count:])):
                perturbed = x.clone().reshape(1, 3, n)
                perturbed[0, :, chosen] = mean[:, None]
                points[name] = probability(perturbed.reshape(x.shape))
            deletion.append({"percent": percent, "most_relevant_removed": points["most"],
                             "least_relevant_removed": points["least"]})
        return {"probability": probability(x), "confidence_change": float(change),
                "multiplied_probability": multiplied, "deletion": deletion}


def reference(out, members, member_names, x, metadata, labels, metric_cases, prefix):
    result = {"pytorch_grad_cam": pytorch_grad_cam.__version__ if hasattr(pytorch_grad_cam, "__version__") else "1.5.7",
              "torch": torch.__version__, "labels": labels, "maps": {}, "pytorch_sign_kept": {},
              "metrics": [], "hirescam_magnitudes": {}}
    upsampled = {}
    for name, model in zip(member_names, members):
        for layer in LAYERS:
            for method in METHODS:
                maps = method_maps(model, x, metadata, labels, method, layer)
                for label, (small, up, kept, magnitudes) in maps.items():
                    result["maps"].setdefault(name, {}).setdefault(layer, {}).setdefault(method, {})[str(label)] = \
                        np.round(small, 7).tolist()
                    upsampled[(name, layer, method, label)] = up
                    if method == "hirescam":
                        # Each layer feeds a LayerNorm, which ignores its input's scale and
                        # shift: gradient . activation sums to ~0 at every position, and
                        # HiResCAM's map is rounding noise (its scaled form is not compared).
                        result["hirescam_magnitudes"][f"{name}/{layer}/{label}"] = magnitudes
                    if method in EIGEN:
                        result["pytorch_sign_kept"][f"{name}/{layer}/{method}/{label}"] = kept
    fixed = [FixedMetadata(m, metadata).eval() for m in members]
    for scope, layer, method, label in metric_cases:
        if scope == "ensemble":
            # The ensemble's map: the mean of the members' scaled maps, scaled again, then upsampled.
            per_member = [np.asarray(result["maps"][n][layer][method][str(label)]) for n in member_names]
            small = scale_cam_image(np.mean(per_member, axis=0)[None])[0]
            up = scale_cam_image(small[None], (INPUT_SIZE, INPUT_SIZE))[0]
            scored = EnsembleLogit(fixed).eval()
        else:
            up = upsampled[(member_names[scope], layer, method, label)]
            scored = fixed[scope]
        file = f"{prefix}_{scope}_{layer}_{method.replace('+', 'p')}_{label}.f32"
        up.astype("<f4").tofile(out / file)
        figures = faithfulness(scored, x, up, label)
        result["metrics"].append({"scope": scope, "layer": layer, "method": method, "label": label,
                                  "map": file, **figures})
    return result


def committed(out):
    members = []
    for i, file in enumerate(("tiny_m0.pth", "tiny_m1_checkpoint.pth", "tiny_m2.pth")):
        model = perturbed_model(TINY_DEPTHS, TINY_DIMS, 11 + i)
        state = torch.load(out / file, map_location="cpu", weights_only=True)
        state = state.get("model_state_dict", state)
        model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
        members.append(model.eval())
    image = "resized_xray_grey.png"
    with Image.open(out / image) as im:
        x = to_input(im.convert("RGB"))
    cases = [(0, "last", "gradcam", 9), (1, "stages_2", "gradcam++", 3), ("ensemble", "last", "layercam", 9)]
    result = reference(out, members, ["tiny_m0", "tiny_m1", "tiny_m2"], x,
                       METADATA_CASES["reference_default"], [3, 9], cases, "cam_metric")
    result.update({"generator": "tools/reference/cam_methods_reference.py", "image": image,
                   "metadata_case": "reference_default", "member_names": ["tiny_m0", "tiny_m1", "tiny_m2"],
                   "member_files": ["tiny_m0.pth", "tiny_m1_checkpoint.pth", "tiny_m2.pth"]})
    (out / "cam_methods.json").write_text(json.dumps(result))


def full(out):
    """The full-size member of generate_fixtures.py --full, on the real chest radiograph."""
    model = perturbed_model((3, 3, 27, 3), (128, 256, 512, 1024), 21)
    state = torch.load(out / "convnext_base_full.pth", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model_state_dict"])
    model.eval()
    with Image.open(out / "full_chest.jpg") as im:
        x = to_input(resized(im))
    cases = [(0, "last", "gradcam", 9), (0, "stages_2", "layercam", 9), (0, "last", "eigencam", 2)]
    result = reference(out, [model], ["full"], x, METADATA_CASES["reference_default"], [2, 9, 13], cases,
                       "full_cam_metric")
    result.update({"generator": "tools/reference/cam_methods_reference.py --full", "image": "full_chest.jpg",
                   "metadata_case": "reference_default", "member_names": ["full"],
                   "member_files": ["convnext_base_full.pth"]})
    (out / "full_cam_methods.json").write_text(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", metavar="DIR")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.full:
        full(Path(args.full))
    else:
        committed(FIXTURES)


if __name__ == "__main__":
    main()
