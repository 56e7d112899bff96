"""LCE binary ops in C: the host build gives the NumPy reference's bits, with each popcount
implementation (portable SWAR, Harley-Seal carry-save for cores without a popcount instruction,
__builtin_popcount), on the seeded sweep of tests/kernels/test_binary.py; whole LCE models give
Larq Compute Engine's outputs; integer-only binary projects build without float registers; and
strict gcc/clang builds and ASan/UBSan runs are clean."""
import ctypes
import dataclasses
import platform

import numpy as np
import pytest

import picoml
from picoml.codegen import generate
from picoml.interpreter import Interpreter
from picoml.ir import DType, Graph, Op
from picoml.targets.host import HostModel
from picoml.testing.opmodel import tensor
from tests.codegen.test_elementwise_c import (assert_bits, check_general_regs_only, merge, sanitized_run,
                                              strict_builds)
from tests.conftest import require_c_kernels
from tests.kernels.test_binary import (CHANNELS, LCE_MODELS, bconv_graph, bmaxpool_graph, dequantize_graph,
                                       quantize_graph, random_bits, sweep)

BP, F32, I8 = DType.BITPACKED, DType.FLOAT32, DType.INT8
VARIANTS = {"portable": ["-DPM_PORTABLE_POPCOUNT"], "csa": ["-DPM_CSA_POPCOUNT"], "builtin": ["-DPM_BUILTIN_POPCOUNT"]}


def random_inputs(graph, rng):
    """Inputs for every graph input: random bits (storage words), floats with signed zeros, int8."""
    out = []
    for t in graph.input_tensors:
        if t.dtype is BP:
            out.append(random_bits(rng, t.shape, p=float(rng.choice([0.5, 0.2, 0.8]))))
        elif t.dtype is F32:
            x = rng.standard_normal(t.shape).astype(np.float32)
            x[rng.random(t.shape) < 0.05] = 0.0
            x[rng.random(t.shape) < 0.05] = -0.0
            out.append(x)
        else:
            out.append(rng.integers(-128, 128, t.shape).astype(np.int8))
    return out


def compare(graph, host, rng, runs=2):
    ref = Interpreter(graph)
    for _ in range(runs):
        inputs = random_inputs(graph, rng)
        for i, (got, exp) in enumerate(zip(host.run(inputs), ref.run(inputs))):
            assert_bits(got, exp, f"output {i} ({graph.ops[i].type} {graph.ops[i].attrs})")


def all_kernels_graph(rng):
    """The sweep's convolutions, binary pooling, and (de)quantization of every kind, side by side."""
    graphs = [bconv_graph(rng, **case) for case in sweep(rng, 72)]
    graphs += [bconv_graph(rng, c, 7, k, st, d, "SAME", 0, in_hw=(9, 8), batches=2) for c in CHANNELS
               for k, st, d in [((3, 3), (1, 1), (1, 1)), ((5, 3), (1, 2), (2, 1)), ((2, 2), (2, 2), (1, 1))]]
    graphs += [bconv_graph(rng, 32, 9, out="int8", act=a, out_quant=(1.0, 0), transform=(0.5, 0.5))
               for a in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")]  # int8 ties
    graphs += [bmaxpool_graph(c, f, s, p, hw, 2) for c in CHANNELS for f, s, p, hw in
               [((2, 2), (2, 2), "VALID", (8, 8)), ((3, 3), (2, 1), "SAME", (5, 6))]]
    graphs += [quantize_graph((2, 3, c)) for c in CHANNELS] + [quantize_graph((3, c), I8, (0.1, -7)) for c in (1, 33)]
    graphs += [dequantize_graph((2, c)) for c in CHANNELS] + [dequantize_graph((3, c), I8, (0.3, 4)) for c in (1, 33)]
    return merge(graphs)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_sweep_in_c_each_popcount(variant, rng):
    g = all_kernels_graph(rng)
    host = HostModel(g, generate(g), extra_flags=VARIANTS[variant])
    impl = host._lib.pm_binary_popcount_impl
    impl.restype = ctypes.c_char_p
    assert impl().decode() == variant
    compare(g, host, rng)
    # the popcount itself on lengths around the 8-word carry-save blocks
    xor_pop = host._lib.pm_xor_popcount
    xor_pop.restype = ctypes.c_int32
    xor_pop.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
    for n in list(range(0, 20)) + [31, 32, 33, 64, 100, 257]:
        a = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
        b = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
        if n % 3 == 0:
            b = ~a  # every bit set
        want = int(np.bitwise_count(a ^ b).sum())
        assert xor_pop(a.ctypes.data, b.ctypes.data, n) == want, n


def binary_chain(in_dtype=I8, out_dtype=I8, zero_pad_tail=False):
    """x -> LceQuantize -> bconv (bitpacked, SAME one-padding) -> LceBMaxPool2d -> bconv (bitpacked,
    stride 2, 33 channels) -> tail: LceDequantize, or a zero-padded float bconv."""
    rng = np.random.default_rng(7)
    t = {}

    def add(name, shape, dtype, **kw):
        t[name] = tensor(name, shape, dtype, **kw)
        return name

    def conv(x, cin, cout, out, out_type, **kw):
        sub = bconv_graph(rng, cin, cout, out=out_type, **kw)
        op = sub.ops[0]
        names = {n: f"{out}_{n}" for n in op.inputs[1:] if n is not None}
        names[op.outputs[0]] = out
        t.update({new: dataclasses.replace(sub.tensors[old], name=new) for old, new in names.items()})
        return Op("LceBconv2d", [x] + [names.get(n) for n in op.inputs[1:]], [out], op.attrs)

    add("x", (1, 9, 8, 20), in_dtype, **({"scale": 0.1, "zero_point": -3} if in_dtype is I8 else {}))
    add("q", (1, 9, 8, 20), BP)
    ops = [Op("LceQuantize", ["x"], ["q"]),
           conv("q", 20, 40, "c1", "bitpacked", in_hw=(9, 8))]
    add("p", (1, 4, 4, 40), BP)
    ops.append(Op("LceBMaxPool2d", ["c1"], ["p"], {"filter_height": 2, "filter_width": 2, "padding": "VALID",
                                                  "stride_h": 2, "stride_w": 2}))
    ops.append(conv("p", 40, 33, "c2", "bitpacked", in_hw=(4, 4), stride=(2, 2), pad_values=1))
    if zero_pad_tail:
        ops.append(conv("c2", 33, 6, "y", "float32", in_hw=(2, 2), k=(3, 3), pad_values=0))
    else:
        add("y", (1, 2, 2, 33), out_dtype, **({"scale": 0.5, "zero_point": 2} if out_dtype is I8 else {}))
        ops.append(Op("LceDequantize", ["c2"], ["y"]))
    return Graph(t, ops, ["x"], ["y"]).validate()


def test_integer_binary_chain_builds_without_float_registers(rng):
    """int8 -> bits -> binary convs and pooling -> int8: no floating point anywhere in the C."""
    g = binary_chain()
    project = generate(g)
    assert "pm_binary.c" in project.files and "pm_binary_f32.c" not in project.files
    check_general_regs_only(g, random_inputs(g, rng))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_chains_bitpacked_between_layers(variant, rng):
    """Binary layers hand packed words to each other (no unpacking in between)."""
    for g in [binary_chain(), binary_chain(F32, F32), binary_chain(F32, zero_pad_tail=True)]:
        project = generate(g)
        assert "pm_bconv2d_bitpacked(" in project.files["model.c"]
        compare(g, HostModel(g, project, extra_flags=VARIANTS[variant]), rng)


def test_strict_builds_and_sanitizers(rng, tmp_path):
    g = binary_chain(F32, zero_pad_tail=True)
    strict_builds(g, tmp_path)
    sanitized_run(g, random_inputs(g, rng), tmp_path / "asan")
    g = merge([bconv_graph(rng, 33, 5, out="int8", act="RELU6"), binary_chain()])
    strict_builds(g, tmp_path / "b")
    sanitized_run(g, random_inputs(g, rng), tmp_path / "asan_b")


def test_default_popcount_follows_the_core():
    """Without flags: the builtin only where the core has a popcount instruction, else carry-save."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("checked on x86-64")
    g = bconv_graph(np.random.default_rng(0), 8, 3, out="bitpacked")
    for flags, want in [(["-mno-popcnt"], "csa"), (["-mpopcnt"], "builtin")]:
        impl = HostModel(g, generate(g), extra_flags=flags)._lib.pm_binary_popcount_impl
        impl.restype = ctypes.c_char_p
        assert impl().decode() == want, flags


@pytest.mark.parametrize("name", LCE_MODELS)
def test_lce_models_in_c_equal_lce_outputs(real, name):
    g = picoml.load_tflite(real / f"lce/{name}.tflite")
    require_c_kernels(g)
    data = np.load(real / f"lce/{name}.npz")
    for flags in VARIANTS.values():
        host = HostModel(g, generate(g), extra_flags=flags)
        for x, want in zip(data["inputs"], data["outputs"]):
            (got,) = host.run([x[None]])
            want = want.reshape(got.shape)
            if name == "bnn_chain":  # float MEAN/FC/SOFTMAX after the binary layers
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)
            else:
                assert_bits(got, want, name)
