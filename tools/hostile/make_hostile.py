#!/usr/bin/env python3
"""Hostile and broken input files for chexlens, one per class of attack.

Each file is small (a few kB) and reproduces one way a weight file, a
manifest, an image or a DICOM file can try to crash chexlens, exhaust its
memory, stack or time, or be accepted while wrong. The files and
`expected.json` (what chexlens must say about each) are committed under
tests/hostile; `crates/chexlens-model/tests/hostile_files.rs` reads each
through the real entry point and checks the refusal, and the browser test
feeds some of them to the page.

Python's standard library only: the `.pth` files are written the way
`torch.save` writes them (a stored zip of data.pkl, byteorder and one
storage per tensor, pickled with torch's global names) without importing
torch.

    python3 tools/hostile/make_hostile.py
"""

import io
import json
import pickle
import struct
import sys
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/hostile"
FIXTURES = ROOT / "crates/chexlens-model/tests/fixtures"

# --- a minimal model with the real key structure ---------------------------

DEPTHS = (1, 1, 1, 1)
DIMS = (2, 2, 2, 2)


def expected_shapes(depths=DEPTHS, dims=DIMS, in_channels=3, patch=4, meta=(8, 4, 2), classes=14, hidden=1):
    """Every key of ConvNeXtWithMetadata and its shape, as chexlens expects."""
    b = "convnext_backbone"
    shapes = {
        f"{b}.stem_0.weight": [dims[0], in_channels, patch, patch],
        f"{b}.stem_0.bias": [dims[0]],
        f"{b}.stem_1.weight": [dims[0]],
        f"{b}.stem_1.bias": [dims[0]],
    }
    for s, (depth, dim) in enumerate(zip(depths, dims)):
        stage = f"{b}.stages_{s}"
        if s > 0:
            prev = dims[s - 1]
            shapes[f"{stage}.downsample.0.weight"] = [prev]
            shapes[f"{stage}.downsample.0.bias"] = [prev]
            shapes[f"{stage}.downsample.1.weight"] = [dim, prev, 2, 2]
            shapes[f"{stage}.downsample.1.bias"] = [dim]
        for i in range(depth):
            block = f"{stage}.blocks.{i}"
            shapes.update({
                f"{block}.gamma": [dim],
                f"{block}.conv_dw.weight": [dim, 1, 7, 7],
                f"{block}.conv_dw.bias": [dim],
                f"{block}.norm.weight": [dim],
                f"{block}.norm.bias": [dim],
                f"{block}.mlp.fc1.weight": [4 * dim, dim],
                f"{block}.mlp.fc1.bias": [4 * dim],
                f"{block}.mlp.fc2.weight": [dim, 4 * dim],
                f"{block}.mlp.fc2.bias": [dim],
            })
    c = dims[-1]
    shapes["cbam.channel_attention.1.weight"] = [hidden, c, 1, 1]
    shapes["cbam.channel_attention.3.weight"] = [c, hidden, 1, 1]
    shapes["cbam.spatial_attention.0.weight"] = [1, 2, 7, 7]
    shapes["metadata_fc.0.weight"] = [meta[1], meta[0]]
    shapes["metadata_fc.0.bias"] = [meta[1]]
    shapes["metadata_fc.3.weight"] = [meta[2], meta[1]]
    shapes["metadata_fc.3.bias"] = [meta[2]]
    shapes["classifier.weight"] = [classes, c + meta[2]]
    shapes["classifier.bias"] = [classes]
    return shapes


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def f32_values(n, seed):
    return struct.pack(f"<{n}f", *[((i * 7919 + seed) % 200) / 1000.0 - 0.1 for i in range(n)])


# --- safetensors -------------------------------------------------------------

def safetensors(entries, pad_data=b""):
    """entries: {name: (dtype, shape, data bytes)} or (dtype, shape, [begin, end]) for raw offsets."""
    header, data = {}, bytearray()
    for name, (dtype, shape, payload) in entries.items():
        if isinstance(payload, list):
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": payload}
        else:
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
            data += payload
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + bytes(data) + pad_data


def model_safetensors(shapes):
    return safetensors({k: ("F32", s, f32_values(numel(s), i)) for i, (k, s) in enumerate(shapes.items())})


# --- .pth, as torch.save writes it -------------------------------------------

def _fake_torch():
    """Module objects named as torch's, so that pickle writes torch's globals."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "HalfStorage", "LongStorage"):
        cls = type(name, (), {"__module__": "torch", "__qualname__": name})
        setattr(torch, name, cls)
    torch._utils = utils
    sys.modules.setdefault("torch", torch)
    sys.modules.setdefault("torch._utils", utils)
    return sys.modules["torch"], sys.modules["torch._utils"]


TORCH, TORCH_UTILS = _fake_torch()


class Storage:
    def __init__(self, key, kind, count):
        self.key, self.kind, self.count = key, kind, count


class Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)

    def __reduce__(self):
        return (TORCH_UTILS._rebuild_tensor_v2, (self.storage, self.offset, self.shape, self.stride, False, {}))


class TorchPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", getattr(TORCH, obj.kind), obj.key, "cpu", obj.count)
        return None


def contiguous(shape):
    stride, acc = [], 1
    for d in reversed(shape):
        stride.append(acc)
        acc *= d
    return list(reversed(stride))


def pth(state, storages, pickle_bytes=None):
    """state: {name: Tensor}; storages: {key: bytes}. A stored zip like torch.save's."""
    if pickle_bytes is None:
        buf = io.BytesIO()
        TorchPickler(buf, protocol=2).dump(state)
        pickle_bytes = buf.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle_bytes)
        z.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", "3\n")
    return out.getvalue()


def model_pth(shapes, tweak=None):
    """A valid .pth of `shapes`; `tweak(state, storages)` edits it first."""
    state, storages = {}, {}
    for i, (name, shape) in enumerate(shapes.items()):
        key = str(i)
        storages[key] = f32_values(numel(shape), i)
        state[name] = Tensor(Storage(key, "FloatStorage", numel(shape)), 0, shape, contiguous(shape))
    if tweak:
        tweak(state, storages)
    return pth(state, storages)


# --- DICOM, explicit VR little endian, by hand -------------------------------

def element(group, elem, vr, value):
    tag = struct.pack("<HH", group, elem)
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB") else b" "
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return tag + vr.encode() + b"\0\0" + struct.pack("<I", len(value)) + value
    return tag + vr.encode() + struct.pack("<H", len(value)) + value


def dicom(transfer_syntax, rows, columns, samples, pixel_element, photometric=b"MONOCHROME2", bits=8):
    meta_body = b"".join([
        element(0x0002, 0x0001, "OB", b"\0\1"),
        element(0x0002, 0x0002, "UI", b"1.2.840.10008.5.1.4.1.1.1.1"),
        element(0x0002, 0x0003, "UI", b"1.2.3.4"),
        element(0x0002, 0x0010, "UI", transfer_syntax.encode()),
        element(0x0002, 0x0012, "UI", b"1.2.3.4.5"),
    ])
    meta = element(0x0002, 0x0000, "UL", struct.pack("<I", len(meta_body))) + meta_body
    body = b"".join([
        element(0x0008, 0x0060, "CS", b"DX"),
        element(0x0028, 0x0002, "US", struct.pack("<H", samples)),
        element(0x0028, 0x0004, "CS", photometric),
        element(0x0028, 0x0010, "US", struct.pack("<H", rows)),
        element(0x0028, 0x0011, "US", struct.pack("<H", columns)),
        element(0x0028, 0x0100, "US", struct.pack("<H", bits)),
        element(0x0028, 0x0101, "US", struct.pack("<H", bits)),
        element(0x0028, 0x0102, "US", struct.pack("<H", bits - 1)),
        element(0x0028, 0x0103, "US", struct.pack("<H", 0)),
    ])
    return b"\0" * 128 + b"DICM" + meta + body + pixel_element


def encapsulated(frame):
    """Pixel Data (7FE0,0010) OB of undefined length: empty offset table, one fragment."""
    if len(frame) % 2:
        frame += b"\0"
    item = lambda data: struct.pack("<HHI", 0xFFFE, 0xE000, len(data)) + data
    return (struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\0\0" + struct.pack("<I", 0xFFFFFFFF)
            + item(b"") + item(frame) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))


def jpeg_with_sof(jpeg, height=None, width=None, components=None):
    """The JPEG with its frame header's height, width or component count rewritten."""
    data = bytearray(jpeg)
    at = 2
    while True:
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            body = at + 4
            if height is not None:
                data[body + 1:body + 3] = struct.pack(">H", height)
            if width is not None:
                data[body + 3:body + 5] = struct.pack(">H", width)
            if components is not None:
                data[body + 5] = components
            return bytes(data)
        at += 2 + length


def jpeg_size(jpeg):
    at = 2
    while True:
        marker, length = jpeg[at + 1], struct.unpack(">H", jpeg[at + 2:at + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", jpeg[at + 5:at + 9])
            return width, height
        at += 2 + length


# --- the files ---------------------------------------------------------------

def build():
    files = {}  # name -> (kind, bytes, what chexlens must say)
    base = expected_shapes()

    def add(name, kind, data, message):
        files[name] = (kind, data, message)

    # .pth: views that point outside their storage or make its arithmetic wrap.
    def offset_past(state, storages):
        state["classifier.bias"].offset = 1000

    add("pth_offset_past_storage.pth", "weights", model_pth(base, offset_past), "claims")

    def wrapping(state, storages):
        t = state["classifier.weight"]
        t.shape, t.stride = (2**62, 4), (2**62, 1)

    add("pth_stride_wraps.pth", "weights", model_pth(base, wrapping), "claims")

    def empty_with_offset(state, storages):
        t = state["classifier.bias"]
        t.shape, t.stride, t.offset = (0,), (1,), 10**9

    add("pth_zero_numel_with_offset.pth", "weights", model_pth(base, empty_with_offset), "shape")

    def integer_weights(state, storages):
        t = state["classifier.weight"]
        t.storage.kind = "LongStorage"
        storages[t.storage.key] = b"\0" * (8 * t.storage.count)

    add("pth_integer_tensor.pth", "weights", model_pth(base, integer_weights), "floating point")

    def stride_zero(state, storages):
        t = state["classifier.weight"]
        t.shape, t.stride = (2**20, 2**20), (0, 0)

    add("pth_stride_zero_tib.pth", "weights", model_pth(base, stride_zero), "claims")

    def shared(state, storages):
        big = Storage("big", "FloatStorage", 4096)
        storages["big"] = b"\0" * (4 * 4096)
        for i in range(1000):
            state[f"extra.{i}"] = Tensor(big, 0, (4096,), (1,))

    add("pth_keys_share_one_storage.pth", "weights", model_pth(base, shared), "together")

    # Pickle bombs: a string fetched from the memo a million times, and a
    # half a million nested tuples (and marks) as one value.
    text = b"X" + struct.pack("<I", 4096) + b"x" * 4096 + b"q\x00"
    bomb = b"\x80\x02}q\x01(X\x01\x00\x00\x00a(" + text + b"h\x00" * 100_000 + b"lu."
    add("pth_memo_string_bomb.pth", "weights", pth({}, {}, pickle_bytes=bomb), "no state dict")
    nested = b"\x80\x02}(X\x01\x00\x00\x00a)" + b"\x85" * 500_000 + b"u."
    add("pth_nested_tuples.pth", "weights", pth({}, {}, pickle_bytes=nested), "no state dict")
    marks = b"\x80\x02" + b"(" * 500_000 + b"."
    add("pth_nested_marks.pth", "weights", pth({}, {}, pickle_bytes=marks), "malformed")

    # A zip whose end-record search would go quadratic: signatures everywhere.
    add("pth_many_end_records.pth", "weights", b"PK\x03\x04" + b"PK\x05\x06" * 30_000, "damaged")

    # safetensors whose shapes describe something else than ConvNeXt.
    def variant(**kw):
        return model_safetensors(expected_shapes(**kw))

    scalar_gamma = dict(base)
    scalar_gamma["convnext_backbone.stages_0.blocks.0.gamma"] = []
    add("st_scalar_gamma.safetensors", "weights", model_safetensors(scalar_gamma), "dimensions")
    add("st_metadata_9_inputs.safetensors", "weights", variant(meta=(9, 4, 2)), "9 inputs")
    add("st_stem_1_channel.safetensors", "weights", variant(in_channels=1), "stem takes images of 1")
    add("st_patch_40.safetensors", "weights", variant(patch=40), "patch")
    add("st_nine_stages.safetensors", "weights", variant(depths=(1,) * 9, dims=(2,) * 9), "beyond")
    deep = dict(base)
    deep["convnext_backbone.stages_0.blocks.1000000000.gamma"] = [2]
    add("st_block_index_1e9.safetensors", "weights", model_safetensors(deep), "beyond")
    many = {f"convnext_backbone.stages_{s}.blocks.0.gamma": ("F32", [1], [0, 4]) for s in range(5_000)}
    add("st_5000_stages.safetensors", "weights", safetensors(many, pad_data=b"\0" * 4), "tensors")
    overlap = {k: ("F32", s, f32_values(numel(s), 1)) for k, s in base.items()}
    header = safetensors(overlap)
    add("st_overlapping_ranges.safetensors", "weights", _overlapping(base), "overlap")
    add("st_trailing_garbage_header.safetensors", "weights", _garbage_header(header), "not valid")

    # Manifests.
    arch = {"in_channels": 3, "patch_size": 4, "depths": [3, 3, 27, 3], "dims": [128, 256, 512, 1024],
            "cbam_hidden": 64, "spatial_kernel": 7, "metadata_widths": [8, 64, 32], "num_classes": 14}

    def manifest(**changes):
        a = dict(arch, **changes.pop("architecture", {}))
        m = {"name": "hostile", "members": [{"weights": "m0.safetensors"}], "architecture": a}
        m.update(changes)
        return json.dumps(m).encode()

    add("manifest_in_channels_1.json", "manifest", manifest(architecture={"in_channels": 1}), "stem takes images of 1")
    add("manifest_depth_1e9.json", "manifest", manifest(architecture={"depths": [10**9, 3, 3, 3]}), "blocks")
    add("manifest_1000_members.json", "manifest",
        manifest(members=[{"weights": f"m{i}.pth"} for i in range(1_000)]), "members")
    add("manifest_negative_eps.json", "manifest", manifest(architecture={"layer_norm_eps": -1e-6}), "layer_norm_eps")
    add("manifest_absurd_age_scale.json", "manifest", manifest(metadata={"age_scale": 1e30}), "age_scale")
    add("manifest_deep_nesting.json", "manifest", b'{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "manifest")

    # DICOM files whose JPEG frames do not match their tags.
    # The frame header is what is checked: the start of a real JPEG is enough.
    jpeg = (FIXTURES / "xray_grey.jpg").read_bytes()[:4096] + b"\xff\xd9"
    width, height = jpeg_size(jpeg)
    baseline = "1.2.840.10008.1.2.4.50"
    add("dicom_jpeg_frame_larger_than_rows.dcm", "image",
        dicom(baseline, 16, 16, 1, encapsulated(jpeg)), f"{width}x{height}")
    add("dicom_colour_jpeg_in_grey_file.dcm", "image",
        dicom(baseline, height, width, 1, encapsulated(jpeg_with_sof(jpeg, components=3))), "3 components")
    add("dicom_jpeg_sof_60000.dcm", "image",
        dicom(baseline, 16, 16, 1, encapsulated(jpeg_with_sof(jpeg, height=60000, width=60000))),
        "60000x60000")
    add("dicom_element_claims_4gb.dcm", "image",
        dicom("1.2.840.10008.1.2.1", 16, 16, 1,
              struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\0\0" + struct.pack("<I", 0xFFFFFFF0) + b"\0" * 64),
        "claims 4294967280 bytes")
    add("dicom_bits_allocated_64.dcm", "image",
        dicom("1.2.840.10008.1.2.1", 16, 16, 1, element(0x7FE0, 0x0010, "OW", b"\0" * 2048), bits=64), "bits")
    return files


def _overlapping(shapes):
    """Every tensor's range starting at 0: one stretch of bytes read as many tensors."""
    largest = max(numel(s) for s in shapes.values()) * 4
    entries = {k: ("F32", s, [0, numel(s) * 4]) for k, s in shapes.items()}
    return safetensors(entries, pad_data=b"\0" * largest)


def _garbage_header(valid):
    (length,) = struct.unpack("<Q", valid[:8])
    header = valid[8:8 + length].rstrip() + b" trailing"
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + valid[8 + length:]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    expected = {}
    for name, (kind, data, message) in sorted(build().items()):
        (OUT / name).write_bytes(data)
        expected[name] = {"kind": kind, "refused_with": message}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    total = sum((OUT / n).stat().st_size for n in expected)
    print(f"{len(expected)} hostile files, {total / 1024:.0f} kB, in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
