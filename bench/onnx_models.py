#!/usr/bin/env python3
"""petlens's shipped architectures as ONNX graphs, for onnxruntime-web in `bench/browser.mjs`:
the segmenter (width 32, 128 px, with its two skip additions), the Xception-like classifier
(112 px) and the imported MobileNet v1 (width 0.75, 224 px), layer for layer as
`www/models/*.json` configure them, NCHW, batch 1, random weights
(latency does not depend on them). Batch normalisation stays a node of its own, as exported
models have it; onnxruntime folds it into the convolution when it optimises the graph.

    python bench/onnx_models.py OUT_DIR     (needs the `onnx` package from PyPI)
"""
import json
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MODELS = pathlib.Path(__file__).resolve().parent.parent / "www" / "models"
rng = np.random.default_rng(0)


class Graph:
    """A growing list of nodes and initialisers with fresh tensor names."""

    def __init__(self):
        self.nodes, self.weights, self.count = [], [], 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}{self.count}"

    def weight(self, shape):
        name = self.name("w")
        values = rng.normal(0, 0.05, shape).astype(np.float32)
        self.weights.append(numpy_helper.from_array(values, name))
        return name

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x, c_in, c_out, k, stride=1, pads=None, groups=1, bias=False):
        inputs = [x, self.weight([c_out, c_in // groups, k, k])]
        if bias:
            inputs.append(self.weight([c_out]))
        padding = {"pads": pads} if pads is not None else {"auto_pad": "SAME_UPPER"}
        return self.node("Conv", inputs, kernel_shape=[k, k], strides=[stride, stride],
                         group=groups, **padding)

    def conv_transpose(self, x, c_in, c_out, stride):
        """A 3x3 "same" transposed convolution: the output is `stride` times the input."""
        out_pad = [stride - 1] * 2
        return self.node("ConvTranspose", [x, self.weight([c_in, c_out, 3, 3])], kernel_shape=[3, 3],
                         strides=[stride, stride], pads=[1, 1, 1, 1], output_padding=out_pad)

    def batch_norm(self, x, c):
        scale, shift = self.weight([c]), self.weight([c])
        mean = self.weight([c])
        var = self.name("var")
        self.weights.append(numpy_helper.from_array(np.ones(c, np.float32), var))
        return self.node("BatchNormalization", [x, scale, shift, mean, var], epsilon=1e-3)

    def relu(self, x):
        return self.node("Relu", [x])

    def constant(self, value):
        name = self.name("c")
        self.weights.append(numpy_helper.from_array(np.array(value, np.float32), name))
        return name

    def model(self, x, out, size, out_shape, name):
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 3, size, size])],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
            self.weights)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)  # shapes chain up to `out_shape`
        return model


def segmenter(config):
    """Encoder of conv-BN-ReLU units (strided convolutions), decoder of transposed ones, the skip
    additions of `SKIPS` in `src/model/segmenter.rs`, softmax class scores."""
    w, size = config["width"], config["image_size"]
    g = Graph()
    x = inp = "image"
    encoder = [(3, w, 2), (w, w, 1), (w, 2 * w, 2), (2 * w, 2 * w, 1), (2 * w, 4 * w, 2), (4 * w, 4 * w, 1)]
    decoder = [(4 * w, 4 * w, 1), (4 * w, 4 * w, 2), (4 * w, 2 * w, 1), (2 * w, 2 * w, 2), (2 * w, w, 1), (w, w, 2)]
    skips = {2: 3, 4: 1} if config["skips"] else {}  # decoder unit: encoder unit added after it
    kept = {}
    for i, (c_in, c_out, stride) in enumerate(encoder):
        x = g.relu(g.batch_norm(g.conv(x, c_in, c_out, 3, stride), c_out))
        kept[i] = x
    for i, (c_in, c_out, stride) in enumerate(decoder):
        x = g.relu(g.batch_norm(g.conv_transpose(x, c_in, c_out, stride), c_out))
        if i in skips:
            x = g.node("Add", [x, kept[skips[i]]])
    scores = g.conv(x, w, config["num_classes"], 3, pads=[1, 1, 1, 1], bias=True)
    return g.model(inp, g.node("Softmax", [scores], axis=1), size,
                   [1, config["num_classes"], size, size], "segmenter")


def classifier(config):
    """The chapter's Xception-like classifier: a 5x5 stem, residual blocks of BN-ReLU-separable
    convolutions with max pooling and a strided 1x1 shortcut, global average pooling, one logit."""
    size, channels = config["image_size"], config["block_channels"]
    g = Graph()
    x = inp = "image"
    x = g.conv(x, 3, channels[0], 5, pads=[0, 0, 0, 0])
    c = channels[0]
    for f in channels:
        residual = x
        for c_in in (c, f):
            x = g.relu(g.batch_norm(x, c_in))
            x = g.conv(x, c_in, c_in, 3, pads=[1, 1, 1, 1], groups=c_in)  # depthwise
            x = g.conv(x, c_in, f, 1, pads=[0, 0, 0, 0])  # pointwise
        x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
        residual = g.conv(residual, c, f, 1, stride=2, pads=[0, 0, 0, 0])
        x = g.node("Add", [x, residual])
        c = f
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])])
    logit = g.node("Gemm", [x, g.weight([1, c]), g.weight([1])], transB=1)
    return g.model(inp, g.node("Sigmoid", [logit]), size, [1, 1], "classifier")


def imagenet(config):
    """Keras's MobileNet v1: a 3x3 stride-2 conv, 13 depthwise separable blocks (BN and ReLU6
    after each convolution; stride-2 blocks pad one row and column after), global average
    pooling, a 1x1 convolution to the classes, softmax."""
    alpha, size, classes = config["alpha"], config["image_size"], config["classes"]
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 \
        + [(1024, 2), (1024, 1)]
    g = Graph()
    relu6 = lambda x: g.node("Clip", [x, g.constant(0.0), g.constant(6.0)])
    x = inp = "image"
    c = int(32 * alpha)
    x = relu6(g.batch_norm(g.conv(x, 3, c, 3, stride=2, pads=[0, 0, 1, 1]), c))
    for filters, stride in blocks:
        pads = [1, 1, 1, 1] if stride == 1 else [0, 0, 1, 1]
        x = relu6(g.batch_norm(g.conv(x, c, c, 3, stride=stride, pads=pads, groups=c), c))
        f = int(filters * alpha)
        x = relu6(g.batch_norm(g.conv(x, c, f, 1, pads=[0, 0, 0, 0]), f))
        c = f
    x = g.conv(g.node("GlobalAveragePool", [x]), c, classes, 1, pads=[0, 0, 0, 0], bias=True)
    x = g.node("Flatten", [x])
    return g.model(inp, g.node("Softmax", [x], axis=1), size, [1, classes], "imagenet")


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, build in (("segmenter", segmenter), ("classifier", classifier), ("imagenet", imagenet)):
        config = json.loads((MODELS / f"{name}.json").read_text())
        onnx.save(build(config), out / f"{name}.onnx")
        print(f"{out / name}.onnx: {config}")


if __name__ == "__main__":
    main()
