"""picoml demo on built-in data: build a small int8 CNN, inspect it, run it, check the bits.

The model is built here, with no download and no training: a 3x3 convolution with edge
detectors, global average pooling and a classifier that tells horizontal stripes from vertical
ones. picoml calibrates and quantizes it to int8, writes the .tflite, and runs it with its own
reference interpreter, next to tflite-micro when installed, on the same synthetic images.
"""
from __future__ import annotations

import os
import sys

import numpy as np
from rich.console import Console
from rich.table import Table

import picoml
from picoml.cli import main as cli
from picoml.exporters.tflite import export_tflite
from picoml.interpreter import Interpreter, quantize_input
from picoml.ir import DType, Graph, Op, Tensor
from picoml.quantize import quantize_graph

CLASSES = ["horizontal stripes", "vertical stripes"]
OUT = os.environ.get("PICOML_DEMO_OUT", "out/demo")


def stripes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Images of 16x16 stripes at random period and phase, with noise; label 1 = vertical."""
    labels = rng.integers(0, 2, n)
    images = np.empty((n, 1, 16, 16, 1), np.float32)
    coords = np.arange(16)
    for i, lab in enumerate(labels):
        period = rng.integers(3, 7)
        wave = np.sign(np.sin(2 * np.pi * (coords + rng.uniform(0, period)) / period))
        img = np.tile(wave, (16, 1)) if lab else np.tile(wave[:, None], (1, 16))
        images[i, 0, :, :, 0] = 0.8 * img + 0.3 * rng.standard_normal((16, 16))
    return np.clip(images, -1, 1), labels


def float_model() -> Graph:
    sobel = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32) / 4
    kernels = np.stack([sobel, -sobel, sobel.T, -sobel.T])[:, :, :, None]  # OHWI: h-edge x2, v-edge x2
    t = {
        "image": Tensor("image", (1, 16, 16, 1), DType.FLOAT32),
        "edges_w": Tensor("edges_w", (4, 3, 3, 1), DType.FLOAT32, data=kernels.astype(np.float32)),
        "edges_b": Tensor("edges_b", (4,), DType.FLOAT32, data=np.zeros(4, np.float32)),
        "edges": Tensor("edges", (1, 16, 16, 4), DType.FLOAT32),
        "pooled": Tensor("pooled", (1, 1, 1, 4), DType.FLOAT32),
        "flat": Tensor("flat", (1, 4), DType.FLOAT32),
        "fc_w": Tensor("fc_w", (2, 4), DType.FLOAT32, data=np.array([[4, 4, -4, -4], [-4, -4, 4, 4]], np.float32)),
        "fc_b": Tensor("fc_b", (2,), DType.FLOAT32, data=np.zeros(2, np.float32)),
        "logits": Tensor("logits", (1, 2), DType.FLOAT32),
        "probs": Tensor("probs", (1, 2), DType.FLOAT32),
    }
    ops = [
        Op("CONV_2D", ["image", "edges_w", "edges_b"], ["edges"],
           {"padding": "SAME", "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1,
            "fused_activation_function": "RELU"}),
        Op("AVERAGE_POOL_2D", ["edges"], ["pooled"],
           {"padding": "VALID", "stride_h": 16, "stride_w": 16, "filter_height": 16, "filter_width": 16,
            "fused_activation_function": "NONE"}),
        Op("RESHAPE", ["pooled"], ["flat"], {"new_shape": [1, 4]}),
        Op("FULLY_CONNECTED", ["flat", "fc_w", "fc_b"], ["logits"],
           {"fused_activation_function": "NONE", "keep_num_dims": False, "weights_format": 0,
            "asymmetric_quantize_inputs": False}),
        Op("SOFTMAX", ["logits"], ["probs"], {"beta": 1.0}),
    ]
    return Graph(t, ops, ["image"], ["probs"], name="stripes").validate()


def main() -> int:
    con = Console()
    rng = np.random.default_rng(0)
    os.makedirs(OUT, exist_ok=True)
    fgraph = float_model()
    calib, _ = stripes(32, rng)
    qgraph = quantize_graph(fgraph, [[x] for x in calib])
    path = os.path.join(OUT, "stripes_int8.tflite")
    export_tflite(qgraph, path)
    con.rule("picoml info")
    cli(["info", path])

    images, labels = stripes(200, rng)
    q_in = [quantize_input(qgraph.input_tensors[0], x) for x in images]
    sample = os.path.join(OUT, "sample.npy")
    np.save(sample, q_in[0])
    con.rule(f"picoml run (label: {CLASSES[labels[0]]})")
    cli(["run", path, "--input", sample, "--output", os.path.join(OUT, "sample_out.npz")])

    ref = Interpreter(qgraph)
    fl = Interpreter(fgraph)
    pred_float = np.array([int(np.argmax(fl.run([x])[0])) for x in images])
    outs = [ref.run([x])[0] for x in q_in]
    pred_int8 = np.array([int(np.argmax(o)) for o in outs])
    rows = [("float32 (picoml reference)", pred_float), ("int8 (picoml reference)", pred_int8)]
    match = "-"
    try:
        from picoml.testing.peers import TflmModel

        tflm = TflmModel(path)
        t_outs = [tflm.run([x])[0] for x in q_in]
        rows.append(("int8 (tflite-micro)", np.array([int(np.argmax(o)) for o in t_outs])))
        same = sum(np.array_equal(a, b.reshape(a.shape)) for a, b in zip(outs, t_outs))
        match = f"{same}/{len(outs)} outputs bit-identical"
    except ImportError:
        match = "tflite-micro not installed"
    table = Table("engine", "accuracy", title=f"200 synthetic images; picoml vs tflite-micro: {match}")
    for name, pred in rows:
        table.add_row(name, f"{np.mean(pred == labels):.1%}")
    con.print(table)
    con.print(f"files in {OUT}/: {', '.join(sorted(os.listdir(OUT)))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
