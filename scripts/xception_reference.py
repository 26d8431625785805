#!/usr/bin/env python3
"""Keras's own Xception on seeded random weights, for the test of petlens's Xception import
(`tests/native/xception.rs`): Xception's ImageNet weights cannot be obtained here, so the import's path is
checked with tensors of Keras's exact names and shapes and values both sides can generate.
Run by hand (CI never installs TensorFlow):

    /tmp/tfvenv/bin/python scripts/xception_reference.py

Writes to tests/fixtures/xception/:
- `tensors.json`: every tensor of `keras.applications.Xception()` in the order Keras lists its
  layers' weights (Keras's names; its four unnamed residual convolutions and their batch norms are
  `conv2d`, `conv2d_1`, ... as Keras 3 names them, `conv2d_1` ... `conv2d_4` in Keras 2's files);
- `photo.png`: a real fixture photo at Xception's 299x299 input;
- `keras_reference.json`: Keras's pooled features (`avg_pool`, 2048) and probabilities (1000) for
  that photo with the seeded weights (`mobilenet.preprocess_input`'s `x / 127.5 - 1`, Xception's).

The value of element `i` of tensor `k` is `uniform(splitmix64(k << 32 | i))`, scaled by kind (the
same formula in tests/native/xception.rs); and, as a user would have it, `xception_seeded.h5`, Keras 2's
legacy weights format, is written to /tmp and converted by scripts/keras_h5_to_tfjs.py, whose
output must equal the tensors generated here.
"""
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "xception")
PHOTO = os.path.join(ROOT, "tests", "fixtures", "oxford", "images", "keeshond_164.jpg")
M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(x):
    """SplitMix64's output function on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def seeded(k, name, shape):
    """Tensor `k`'s values: uniform in [0, 1) from its index, scaled by what the tensor is."""
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    u = (splitmix64((np.uint64(k) << np.uint64(32)) | i) >> np.uint64(40)).astype(np.float64) / 2.0**24
    part = name.split("/")[-1]
    if part in ("kernel", "depthwise_kernel", "pointwise_kernel"):
        fan_in = int(np.prod(shape[:-1]))
        values = (2 * u - 1) * np.sqrt(3.0 / fan_in)
    elif part in ("gamma", "moving_variance"):
        values = 0.5 + u
    else:  # beta, moving_mean, bias
        values = (2 * u - 1) * 0.1
    return values.astype(np.float32).reshape(shape)


def main():
    import keras

    os.makedirs(OUT, exist_ok=True)
    model = keras.applications.Xception(weights=None)
    tensors = []
    for layer in model.layers:
        for variable in layer.weights:
            name = f"{layer.name}/{variable.name.split('/')[-1]}"
            values = seeded(len(tensors), name, list(variable.shape))
            variable.assign(values)
            tensors.append({"name": name, "shape": list(variable.shape)})
    with open(os.path.join(OUT, "tensors.json"), "w") as f:
        json.dump({"parameters": model.count_params(), "tensors": tensors}, f, indent=0)
        f.write("\n")

    image = Image.open(PHOTO).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image.crop((left, top, left + side, top + side)).resize((299, 299), Image.BICUBIC).save(
        os.path.join(OUT, "photo.png"))
    pixels = np.asarray(Image.open(os.path.join(OUT, "photo.png")).convert("RGB"), dtype=np.float32)
    x = keras.applications.xception.preprocess_input(pixels[None])
    features = keras.Model(model.input, [model.get_layer("avg_pool").output, model.output])
    pooled, p = features.predict(x, verbose=0)
    with open(os.path.join(OUT, "keras_reference.json"), "w") as f:
        json.dump({
            "keras": keras.__version__,
            "photo": "photo.png",
            "from": os.path.relpath(PHOTO, os.path.join(ROOT, "tests", "fixtures")),
            "avg_pool": [float(f"{v:.8g}") for v in pooled[0]],
            "probabilities": [float(f"{v:.8g}") for v in p[0]],
        }, f)
        f.write("\n")
    print("parameters", model.count_params(), "top", int(np.argmax(p[0])), float(p[0].max()))

    # A Keras 2 legacy weights file of the same values (Keras 2's residual names), converted.
    import h5py
    h5 = "/tmp/xception_seeded.h5"
    renamed = {f"conv2d{s}": f"conv2d_{i + 1}" for i, s in enumerate(["", "_1", "_2", "_3"])}
    renamed.update({f"batch_normalization{s}": f"batch_normalization_{i + 1}"
                    for i, s in enumerate(["", "_1", "_2", "_3"])})
    with h5py.File(h5, "w") as f:
        names = [renamed.get(layer.name, layer.name) for layer in model.layers]
        f.attrs["layer_names"] = [n.encode() for n in names]
        for layer, name in zip(model.layers, names):
            group = f.create_group(name)
            weights = [f"{name}/{v.name.split('/')[-1]}:0" for v in layer.weights]
            group.attrs["weight_names"] = [w.encode() for w in weights]
            for w, v in zip(weights, layer.weights):
                group.create_dataset(w, data=np.asarray(v))
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "keras_h5_to_tfjs.py"), h5,
                    "/tmp/xception_seeded_tfjs"], check=True)
    print("wrote", h5, "and /tmp/xception_seeded_tfjs")


if __name__ == "__main__":
    main()
