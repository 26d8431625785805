// petlens's shipped segmenter (width 32, 128 px) and classifier (the chapter's Xception-like,
// 112 px) built layer for layer in TensorFlow.js, timed on its wasm and plain-JS CPU backends,
// and the same architectures as ONNX graphs (bench/onnx_models.py) in onnxruntime-web's wasm
// (SIMD) backend on one thread.
/* global tf, ort */
const params = new URLSearchParams(location.search);
const RUNS = Number(params.get('runs') ?? 20);
// `?backends=wasm,ort` skips the plain-JS backend (20-30 times slower) in the repeated rounds.
const BACKENDS = (params.get('backends') ?? 'wasm,cpu,ort').split(',');

function convBnRelu(x, filters, strides, transposed) {
  const Conv = transposed ? tf.layers.conv2dTranspose : tf.layers.conv2d;
  x = Conv({ filters, kernelSize: 3, strides, padding: 'same', useBias: false }).apply(x);
  x = tf.layers.batchNormalization().apply(x);
  return tf.layers.reLU().apply(x);
}

function segmenter(size = 128, w = 32) {
  const input = tf.input({ shape: [size, size, 3] });
  let x = input;
  for (const [f, s] of [[w, 2], [w, 1], [2 * w, 2], [2 * w, 1], [4 * w, 2], [4 * w, 1]]) x = convBnRelu(x, f, s, false);
  for (const [f, s] of [[4 * w, 1], [4 * w, 2], [2 * w, 1], [2 * w, 2], [w, 1], [w, 2]]) x = convBnRelu(x, f, s, true);
  const out = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'softmax' }).apply(x);
  return tf.model({ inputs: input, outputs: out });
}

function classifier(size = 112) {
  const input = tf.input({ shape: [size, size, 3] });
  let x = tf.layers.conv2d({ filters: 32, kernelSize: 5, useBias: false }).apply(input);
  for (const f of [32, 64, 128, 256, 512]) {
    let residual = x;
    for (let i = 0; i < 2; i++) {
      x = tf.layers.batchNormalization().apply(x);
      x = tf.layers.reLU().apply(x);
      x = tf.layers.separableConv2d({ filters: f, kernelSize: 3, padding: 'same', useBias: false }).apply(x);
    }
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(x);
    residual = tf.layers.conv2d({ filters: f, kernelSize: 1, strides: 2, padding: 'same', useBias: false }).apply(residual);
    x = tf.layers.add().apply([x, residual]);
  }
  x = tf.layers.globalAveragePooling2d({}).apply(x);
  x = tf.layers.dropout({ rate: 0.5 }).apply(x);
  const out = tf.layers.dense({ units: 1, activation: 'sigmoid' }).apply(x);
  return tf.model({ inputs: input, outputs: out });
}

/** Median and 90th percentile of `RUNS` timed calls of `once` (ms each), after a warm-up call. */
async function summary(once) {
  await once();
  const ms = [];
  for (let i = 0; i < RUNS; i++) ms.push(await once());
  ms.sort((a, b) => a - b);
  const at = (q) => ms[Math.min(ms.length - 1, Math.ceil(q * ms.length) - 1)];
  return { median_ms: at(0.5), p90_ms: at(0.9) };
}

async function time(model, size) {
  const x = tf.randomUniform([1, size, size, 3]);
  return summary(async () => {
    const start = performance.now();
    const y = model.predict(x);
    await y.data();
    y.dispose();
    return performance.now() - start;
  });
}

/** One ONNX graph in onnxruntime-web (wasm, graph optimisations on, one thread). */
async function timeOnnx(name, size) {
  const session = await ort.InferenceSession.create(`/onnx/${name}.onnx`, {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all',
  });
  const pixels = new Float32Array(3 * size * size).map(() => Math.random());
  const feeds = { image: new ort.Tensor('float32', pixels, [1, 3, size, size]) };
  try {
    return await summary(async () => {
      const start = performance.now();
      const out = await session.run(feeds);
      await Object.values(out)[0].getData();
      return performance.now() - start;
    });
  } finally {
    await session.release();
  }
}

/** Keras's MobileNet v1 (0.75, 224 px) as TensorFlow.js loads it from the same TF.js layers
 * files petlens imports (mounted at /mobilenet/ when the machine has them). */
async function mobilenet() {
  const response = await fetch('/mobilenet/model.json', { method: 'HEAD' });
  return response.ok ? time(await tf.loadLayersModel('/mobilenet/model.json'), 224) : undefined;
}

(async () => {
  const report = { runs: RUNS, tfjs: tf.version.tfjs, onnxruntime_web: ort.env.versions.web };
  try {
    tf.wasm.setWasmPaths('/tfjs/tfjs-backend-wasm/dist/');
    ort.env.wasm.wasmPaths = '/ort/';
    ort.env.wasm.numThreads = 1;
    for (const backend of BACKENDS) {
      if (backend === 'ort') {
        report.ort = {
          segment: await timeOnnx('segmenter', 128),
          classify: await timeOnnx('classifier', 112),
          imagenet: await timeOnnx('imagenet', 224),
          threads: 1,
        };
        continue;
      }
      await tf.setBackend(backend);
      await tf.ready();
      report[backend] = {
        segment: await time(segmenter(), 128),
        classify: await time(classifier(), 112),
        imagenet: await mobilenet(),
        simd: backend === 'wasm' ? await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') : undefined,
      };
    }
  } catch (e) {
    report.error = String(e);
  }
  document.getElementById('report').textContent = JSON.stringify(report);
  document.getElementById('report').dataset.done = '1';
})();
