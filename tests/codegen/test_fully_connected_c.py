"""FULLY_CONNECTED in C: the host build gives the reference interpreter's bits, floats included.

The grid of tests/kernels/test_fully_connected.py (every dtype mode, per-tensor and per-channel
weights, biases or none, input ranks, keep_num_dims, 1/3/17 units, power-of-two scales with
exact .5 ties), plus what the C kernel specialises on (8/16/32 units, rows grouped per output
stage, depths that are not a multiple of 4), extreme int8 quantization, every FC op of the real
models, and an int8/int16 build without floating-point registers.
"""
from __future__ import annotations

import zlib

import numpy as np

import picoml
from picoml.ir import Graph, Op
from picoml.testing.opmodel import random_input
from tests.codegen.test_elementwise_c import check_c, check_general_regs_only, merge
from tests.kernels.test_fully_connected import MODES, REAL_FC_MODELS, SHAPES, fc_graph


def test_fully_connected_grid():
    cases = [fc_graph(zlib.crc32(repr((mode, in_shape, keep, units)).encode()), mode, in_shape, keep, units)
             for mode in MODES for in_shape, keep in SHAPES for units in (1, 3, 17)]
    check_c(cases, np.random.default_rng(1), runs=2)


def test_ties():
    cases = [fc_graph(seed, mode, (8, 9), False, 17, ties=True)
             for mode in ("int8_pt", "int8_pc", "int16_i64", "int16_i32") for seed in range(6)]
    check_c(cases, np.random.default_rng(2), runs=2)


def test_unit_counts_and_depths_the_kernel_specialises():
    """Constant-trip-count units (8/16/32) and others; several rows per output stage; depths
    with a remainder after the 4-step unrolling."""
    cases = [fc_graph(100 + k, mode, (rows, depth), False, units)
             for k, (rows, depth, units) in enumerate([(5, 8, 8), (3, 16, 16), (7, 33, 32), (2, 5, 64), (9, 1, 4),
                                                       (1, 130, 33), (33, 7, 1), (4, 64, 31)])
             for mode in ("int8_pc", "int8_pt", "int16_i64", "float")]
    check_c(cases, np.random.default_rng(3), runs=2)


def test_extreme_int8_quantization():
    """Zero points at the int8 ends, multipliers above 1 and tiny, bias near INT32_MAX."""
    cases = []
    for k, (in_zp, out_zp, factor, bias_add) in enumerate([(-128, -128, 1.0, 0), (127, 127, 1.0, 0),
                                                           (-128, 127, 1e-6, 0), (127, -128, 3e2, 0),
                                                           (5, -3, 1.0, 1 << 30), (0, 0, 5e5, 0)]):
        graph, _ = fc_graph(200 + k, "int8_pc", (4, 20), False, 12)
        x, y, b = graph.tensors["x"], graph.tensors["y"], graph.tensors["b"]
        x.quant.zero_point[:] = in_zp
        y.quant.zero_point[:] = out_zp
        y.quant.scale[:] = y.quant.scale * np.float32(factor)
        b.data = np.clip(b.data.astype(np.int64) + bias_add, -(1 << 31), (1 << 31) - 1).astype(np.int32)
        cases.append((graph, None))
    check_c(cases, np.random.default_rng(4), runs=3)


def test_real_model_fc_ops(real):
    cases = []
    for model in REAL_FC_MODELS:
        graph = picoml.load_tflite(real / model)
        ops = [op for op in graph.ops if op.type == "FULLY_CONNECTED"]
        assert ops, model
        for op in ops:
            names = [n for n in op.inputs if n is not None]
            sub = Graph({n: graph.tensors[n] for n in names + op.outputs},
                        [Op(op.type, list(op.inputs), list(op.outputs), dict(op.attrs), version=op.version)],
                        [n for n in names if not graph.tensors[n].is_const], list(op.outputs)).validate()
            cases.append((sub, None))
    check_c(cases, np.random.default_rng(5), runs=2)


def test_integer_build_has_no_floating_point():
    rng = np.random.default_rng(6)
    graph = merge([fc_graph(k, mode, (3, 10), False, 9)[0]
                   for k, mode in enumerate(("int8_pt", "int8_pc", "int8_nobias", "int16_i64", "int16_i32"))])
    check_general_regs_only(graph, [random_input(t, rng) for t in graph.input_tensors])
