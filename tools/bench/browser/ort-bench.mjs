// ONNX Runtime Web's wasm backend on the exported member: load, then time
// session.run on the bench input (the pattern `chexlens bench` uses), and
// compare the logits with PyTorch's, stored by tools/bench/export_onnx.py.
import * as ort from "./ort/ort.wasm.min.mjs";

function benchPixels(size) {
  const pixels = new Float32Array(3 * size * size);
  for (let i = 0; i < pixels.length; i++) {
    // f32 at every step, as chexlens and numpy compute it.
    pixels[i] = Math.fround(Math.fround(Math.fround(i % 997) / 997) - 0.5) * 2;
  }
  return pixels;
}

export async function runOrt({ threads, runs, warmup }) {
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
  const started = performance.now();
  const model = await (await fetch("member0.onnx")).arrayBuffer();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ["wasm"],
    graphOptimizationLevel: "all",
  });
  const loadMs = performance.now() - started;
  const expected = await (await fetch("member0.expected.json")).json();
  const size = expected.size;
  const feeds = {
    image: new ort.Tensor("float32", benchPixels(size), [1, 3, size, size]),
    metadata: new ort.Tensor("float32", Float32Array.from(expected.metadata), [1, expected.metadata.length]),
  };
  let logits;
  const times = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t = performance.now();
    logits = (await session.run(feeds)).logits.data;
    if (i >= warmup) times.push(performance.now() - t);
  }
  const drift = Math.max(...expected.logits.map((v, i) => Math.abs(v - logits[i])));
  return { loadMs, times, drift, isolated: self.crossOriginIsolated, threads };
}
