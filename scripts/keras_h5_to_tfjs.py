#!/usr/bin/env python3
"""Converts a Keras weights file in the legacy HDF5 format (what `keras.applications` downloads
into ~/.keras/models/, e.g. `xception_weights_tf_dim_ordering_tf_kernels.h5`) into the
TensorFlow.js layers format that `train import --tfjs` reads: `model.json` with a weights
manifest (one group per layer, tensors named `<layer>/<weight>`) and one shard per layer of
little-endian float32. Needs only h5py and numpy (from PyPI):

    python3 -m venv /tmp/h5 && /tmp/h5/bin/pip install h5py numpy
    /tmp/h5/bin/python scripts/keras_h5_to_tfjs.py ~/.keras/models/xception_weights_tf_dim_ordering_tf_kernels.h5 xception_tfjs/
    cargo run --release --bin train -- import --tfjs xception_tfjs/ --classes imagenet_class_index.json
"""
import json
import os
import sys

import h5py
import numpy as np


def layers(f):
    """(layer name, [(weight name, array)]) in the file's order."""
    root = f["model_weights"] if "model_weights" in f else f
    for layer in root.attrs["layer_names"]:
        layer = layer.decode() if isinstance(layer, bytes) else layer
        group = root[layer]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        yield layer, [(n, np.asarray(group[n], dtype=np.float32)) for n in names]


def main(source, out):
    os.makedirs(out, exist_ok=True)
    manifest = []
    with h5py.File(source, "r") as f:
        for index, (layer, weights) in enumerate(layers(f)):
            if not weights:
                continue
            shard = f"group{index + 1}-shard1of1"
            entries = []
            with open(os.path.join(out, shard), "wb") as data:
                for name, array in weights:
                    short = name.split("/")[-1].split(":")[0]
                    entries.append({"name": f"{layer}/{short}", "shape": list(array.shape),
                                    "dtype": "float32"})
                    data.write(array.astype("<f4").tobytes())
            manifest.append({"paths": [shard], "weights": entries})
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump({"format": "layers-model", "generatedBy": "petlens scripts/keras_h5_to_tfjs.py",
                   "weightsManifest": manifest}, f)
    print(f"{source}: {sum(len(g['weights']) for g in manifest)} tensors -> {out}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
