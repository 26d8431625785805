#!/usr/bin/env python3
"""Keras's own ImageNet probabilities for petlens's imported MobileNet, computed once and
committed as a fixture that `tests/native/imagenet.rs` compares petlens with. Run by hand (CI never
installs TensorFlow):

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu pillow
    /tmp/tfvenv/bin/python scripts/keras_reference.py

1. Cuts real fixture photos to the network's 224x224 input (centre square, PIL's bicubic resize)
   and stores them losslessly in tests/fixtures/imagenet/, so that petlens reads exactly the
   pixels Keras read (a 224x224 photo is not resized by petlens's preprocessing).
2. Builds `keras.applications.MobileNet(alpha=...)`, loads the TensorFlow.js weights in
   ../shared/models/ into it by name, and writes every photo's 1000 softmax probabilities
   (Keras's `mobilenet.preprocess_input`, then `model.predict`) to
   tests/fixtures/imagenet/keras_reference.json: once with the float32 weights, once with every
   tensor rounded to float16 and back, the values petlens ships (so that the shipped weights can
   be checked against Keras exactly, where ../shared/models is not at hand).
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIXTURES, "imagenet")
MODELS = os.path.join(ROOT, "..", "shared", "models")
MODEL_DIR = "mobilenet_v1_0.75_224"
ALPHA = 0.75
# Real photos of the fixtures: cats and dogs of both data sets.
PHOTOS = [
    "cats-vs-dogs/validation/cat/cat.1001.jpg",
    "cats-vs-dogs/validation/dog/dog.1000.jpg",
    "oxford/images/Abyssinian_1.jpg",
    "oxford/images/american_bulldog_10.jpg",
    "oxford/images/keeshond_164.jpg",
]


def square_224(path):
    """The centre square of a photo at 224x224."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return image.crop((left, top, left + side, top + side)).resize((224, 224), Image.BICUBIC)


def tfjs_tensors(folder):
    """Every tensor of a TensorFlow.js layers model, by name."""
    with open(os.path.join(folder, "model.json")) as f:
        manifest = json.load(f)["weightsManifest"]
    tensors = {}
    for group in manifest:
        data = b"".join(open(os.path.join(folder, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            n = int(np.prod(w["shape"]))
            tensors[w["name"]] = np.frombuffer(data, "<f4", n, offset).reshape(w["shape"])
            offset += 4 * n
    return tensors


def load_into(model, tensors):
    """Sets every variable of the Keras model from the tensor of the same layer and name
    (Keras 3 calls the depthwise kernel `kernel`, Keras 2 and the TF.js files
    `depthwise_kernel`); every tensor must be used exactly once."""
    used = set()
    for layer in model.layers:
        for variable in layer.weights:
            short = variable.name.split("/")[-1].split(":")[0]
            names = [f"{layer.name}/{short}"]
            if short == "kernel":
                names.append(f"{layer.name}/depthwise_kernel")
            name = next((n for n in names if n in tensors), None)
            if name is None:
                sys.exit(f"no tensor for {layer.name}/{short}")
            variable.assign(tensors[name])
            used.add(name)
    unused = set(tensors) - used
    if unused:
        sys.exit(f"tensors not used: {sorted(unused)}")
    return len(used)


def main():
    import keras
    from PIL import Image

    os.makedirs(OUT, exist_ok=True)
    model = keras.applications.MobileNet(alpha=ALPHA, weights=None, input_shape=(224, 224, 3))
    tensors = tfjs_tensors(os.path.join(MODELS, MODEL_DIR))
    half = {name: t.astype(np.float16).astype(np.float32) for name, t in tensors.items()}
    loaded = load_into(model, tensors)
    inputs = []
    for photo in PHOTOS:
        name = os.path.splitext(os.path.basename(photo))[0] + ".png"
        square_224(os.path.join(FIXTURES, photo)).save(os.path.join(OUT, name))
        # Read back what was stored, as petlens will.
        pixels = np.asarray(Image.open(os.path.join(OUT, name)).convert("RGB"), dtype=np.float32)
        inputs.append((name, photo, keras.applications.mobilenet.preprocess_input(pixels[None])))
    f32 = [model.predict(x, verbose=0)[0] for _, _, x in inputs]
    load_into(model, half)
    f16 = [model.predict(x, verbose=0)[0] for _, _, x in inputs]
    photos = []
    for (name, photo, _), p, q in zip(inputs, f32, f16):
        top = np.argsort(-p, kind="stable")[:5]
        print(name, [(int(i), f"{p[i]:.4f}") for i in top])
        photos.append({"photo": name, "from": photo,
                       "probabilities": [float(f"{v:.8g}") for v in p],
                       "probabilities_f16_weights": [float(f"{v:.8g}") for v in q]})
    reference = {
        "model": MODEL_DIR,
        "keras": keras.__version__,
        "tensors_loaded": loaded,
        "preprocessing": "keras.applications.mobilenet.preprocess_input (x / 127.5 - 1)",
        "photos": photos,
    }
    with open(os.path.join(OUT, "keras_reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
