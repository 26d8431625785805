#!/usr/bin/env python3
"""The book's own models in Keras 3 on TensorFlow's CPU backend: the reference petlens's
`train bench` is compared with. Prints one JSON line per model, in `train bench`'s format,
plus `train_gflop_per_image` (forward + backward, counted by TensorFlow's profiler) and one line
with the machine's fp32 matmul peak.

Run through `bench/compare` (which creates the virtual environment), or directly inside a venv
with `keras` and `tensorflow-cpu` installed.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402
from keras import layers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def segmenter(img_size, num_classes=3):
    """Chapter 9's segmentation model (listing 9.4), exactly."""
    inputs = keras.Input(shape=img_size + (3,))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(64, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, strides=2, activation="relu", padding="same")(x)
    x = layers.Conv2D(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2D(256, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(256, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(256, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(128, 3, activation="relu", padding="same", strides=2)(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same")(x)
    x = layers.Conv2DTranspose(64, 3, activation="relu", padding="same", strides=2)(x)
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    return model


def imagenet_mobilenet():
    """The ImageNet network petlens imports (Keras's MobileNet v1, alpha 0.75, 224 px) with the
    real weights from ../shared/models loaded by name, as scripts/keras_reference.py proves
    them against petlens's; trained whole from them on 1000 classes."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import keras_reference as imported

    model = keras.applications.MobileNet(alpha=imported.ALPHA, weights=None, input_shape=(224, 224, 3))
    imported.load_into(model, imported.tfjs_tensors(os.path.join(imported.MODELS, imported.MODEL_DIR)))
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    return model


def xception_like(img_size=180):
    """Chapter 9's mini Xception-like classifier (section 9.3.5), exactly (augmentation
    included, as in the book's training)."""
    augmentation = keras.Sequential([
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
        layers.RandomZoom(0.2),
    ])
    inputs = keras.Input(shape=(img_size, img_size, 3))
    x = augmentation(inputs)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(filters=32, kernel_size=5, use_bias=False)(x)
    for size in [32, 64, 128, 256, 512]:
        residual = x
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same", use_bias=False)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same", use_bias=False)(residual)
        x = layers.add([x, residual])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(loss="binary_crossentropy", optimizer="rmsprop")
    return model


def forward_gflop(model, size):
    """Forward FLOPs of one image, from TensorFlow's profiler on the traced graph."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([1, size, size, 3], tf.float32)
    frozen = convert_variables_to_constants_v2(tf.function(lambda x: model(x, training=False)).get_concrete_function(spec))
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, options=opts)
    return info.total_float_ops / 1e9


def measure(name, model, size, batch, steps, infer_runs, cpu):
    """Training images/s over `steps` steps after a warm-up step (none with `steps` 0) and
    the median single-photo `predict_on_batch` ms of `infer_runs` runs after a warm-up run."""
    x = np.random.uniform(0, 255, (max(batch, 1), size, size, 3)).astype("float32")
    if model.output_shape[-1] == 1:
        y = np.random.randint(0, 2, (len(x), 1)).astype("float32")
    elif len(model.output_shape) == 2:
        y = np.random.randint(0, model.output_shape[-1], (len(x), 1))
    else:
        y = np.random.randint(0, 3, (len(x), size, size, 1))
    train = None
    if steps > 0:
        model.train_on_batch(x, y)  # warm-up: tracing and allocation
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        train = len(x) * steps / (time.perf_counter() - start)
    one = x[:1]
    model.predict_on_batch(one)
    runs = []
    for _ in range(infer_runs):
        start = time.perf_counter()
        model.predict_on_batch(one)
        runs.append((time.perf_counter() - start) * 1000)
    infer_ms = statistics.median_low(runs)  # the lower median, as petlens's `train bench` takes it
    forward = forward_gflop(model, size)
    print(json.dumps({"model": name, "image_size": size, "batch": batch, "backend": "tensorflow-cpu",
                      **cpu, "optimizer": "rmsprop", "train_images_per_s": train, "infer_ms": infer_ms,
                      "forward_gflop_per_image": forward,
                      "train_gflop_per_image": 3 * forward}), flush=True)  # backward ~ 2x forward


def cpu_model():
    """The CPU's model name, as `train bench` prints it."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def onednn_isa():
    """The instruction set TensorFlow's oneDNN kernels run with (they choose at run time, capped
    by ONEDNN_MAX_CPU_ISA), as oneDNN's verbose mode reports it for one convolution in a
    separate process (its log goes to stdout)."""
    probe = ("import tensorflow as tf; "
             "tf.nn.conv2d(tf.ones([1, 8, 8, 8]), tf.ones([3, 3, 8, 8]), 1, 'SAME')")
    env = dict(os.environ, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if ",isa:" in line:
            return line.split(",isa:", 1)[1].strip()
    return "unknown (oneDNN reported none: TF_ENABLE_ONEDNN_OPTS=0?)"


def matmul_peak():
    """fp32 GFLOP/s of a large sgemm (numpy's BLAS), best of five."""
    n = 2048
    a = np.random.rand(n, n).astype("float32")
    b = np.random.rand(n, n).astype("float32")
    a @ b
    best = min(timed(lambda: a @ b) for _ in range(5))
    return 2 * n**3 / best / 1e9


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="0 measures inference only")
    parser.add_argument("--infer-runs", type=int, default=5)
    parser.add_argument("--models", default="seed_segmenter_160,seed_segmenter_200,seed_xception_like_180")
    args = parser.parse_args()
    builders = {
        "seed_segmenter_160": (lambda: segmenter((160, 160)), 160),
        "seed_segmenter_200": (lambda: segmenter((200, 200)), 200),
        "seed_xception_like_180": (lambda: xception_like(180), 180),
        "imagenet": (imagenet_mobilenet, 224),
    }
    cpu = {"cpu": cpu_model(), "instruction_set": onednn_isa()}
    for name in args.models.split(","):
        build, size = builders[name]
        measure(name, build(), size, args.batch_size, args.steps, max(args.infer_runs, 1), cpu)
    print(json.dumps({"matmul_peak_gflops": matmul_peak(), "threads": os.cpu_count()}), flush=True)


if __name__ == "__main__":
    main()
