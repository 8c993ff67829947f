"""wasm-opt through native binaryen (PyPI icpp-binaryen's libbinaryen, on
every core), for tools/build/page.mjs: npm's binaryen is binaryen compiled to
WebAssembly and runs on one core (-O3 on the model worker: 426 s there, 175 s
here, both measured on 2 cores).

    python wasm_opt.py LEVEL INPUT OUTPUT [threads]

LEVEL as wasm-opt's -O: 1, 2, 3, 4, s (2, shrinking) or z (2, shrinking
more); "3s" is -O3 --shrink-level=1 (the worker's: as fast as -O3 and as
small once gzipped as the npm -O3 build, measured by tools/bench/build-bench).
"threads": the module was built with wasm threads (atomics, shared memory).
"""

import ctypes
import sys
from pathlib import Path

import icpp_binaryen


class Written(ctypes.Structure):
    _fields_ = [("binary", ctypes.c_void_p), ("size", ctypes.c_size_t), ("source_map", ctypes.c_char_p)]


def load():
    lib = ctypes.CDLL(str(Path(icpp_binaryen.__file__).parent / "lib" / "libbinaryen.so"))
    lib.BinaryenModuleRead.restype = ctypes.c_void_p
    lib.BinaryenModuleRead.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.BinaryenModuleValidate.argtypes = [ctypes.c_void_p]
    lib.BinaryenModuleSetFeatures.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.BinaryenModuleOptimize.argtypes = [ctypes.c_void_p]
    lib.BinaryenModuleAllocateAndWrite.restype = Written
    lib.BinaryenModuleAllocateAndWrite.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib


def main(level, source, target, kind="plain"):
    lib = load()
    # What rustc's wasm32 target and .cargo/config.toml enable, as the
    # wasm-opt command line detects them from the module.
    features = 0
    names = ["SignExt", "MutableGlobals", "BulkMemory", "NontrappingFPToInt", "ReferenceTypes",
             "Multivalue", "SIMD128"] + (["Atomics"] if kind == "threads" else [])
    for name in names:
        feature = getattr(lib, f"BinaryenFeature{name}")
        feature.restype = ctypes.c_uint32
        features |= feature()
    data = Path(source).read_bytes()
    module = lib.BinaryenModuleRead(data, len(data))
    lib.BinaryenModuleSetFeatures(module, features)
    if not lib.BinaryenModuleValidate(module):
        sys.exit(f"wasm-opt: {source} does not validate")
    optimize, shrink = {"s": (2, 1), "z": (2, 2), "3s": (3, 1)}.get(level, (None, 0))
    lib.BinaryenSetOptimizeLevel(int(level) if optimize is None else optimize)
    lib.BinaryenSetShrinkLevel(shrink)
    lib.BinaryenModuleOptimize(module)
    written = lib.BinaryenModuleAllocateAndWrite(module, None)
    Path(target).write_bytes(ctypes.string_at(written.binary, written.size))


if __name__ == "__main__":
    main(*sys.argv[1:5])
