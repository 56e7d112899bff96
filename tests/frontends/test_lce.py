"""Larq Compute Engine models in the IR: bitpacked tensors with logical shapes, picoml attr names,
clear refusals of what LCE itself forbids, and an exporter round trip that LCE could read back."""
import numpy as np
import pytest

import picoml
from picoml.errors import GraphError, PicomlError, UnsupportedError
from picoml.exporters.tflite import export_tflite
from picoml.frontends.lce import LCE_OPS, attrs_from_options, decode_options, options_from_attrs
from picoml.interpreter import Interpreter
from picoml.ir import DType
from tests.kernels.test_binary import bconv_graph, bmaxpool_graph, dequantize_graph, quantize_graph

LCE_MODELS = ["bconv3x3_pad1", "bconv3x3_pad1_int8", "bconv1x1", "bconv_sign_out", "bnn_chain"]
BP = DType.BITPACKED


def load(real, name):
    return picoml.load_tflite(real / f"lce/{name}.tflite")


def test_bitpacked_tensors_get_logical_shapes(real):
    g = load(real, "bnn_chain")
    shapes = [(op.type, [(g.tensors[n].dtype, g.tensors[n].shape) for n in op.inputs[:2] if n is not None],
               (g.tensors[op.outputs[0]].dtype, g.tensors[op.outputs[0]].shape)) for op in g.ops[:5]]
    assert shapes == [
        ("LceQuantize", [(DType.FLOAT32, (1, 16, 16, 3))], (BP, (1, 16, 16, 3))),
        ("LceBconv2d", [(BP, (1, 16, 16, 3)), (BP, (32, 3, 3, 3))], (BP, (1, 16, 16, 32))),
        ("LceBconv2d", [(BP, (1, 16, 16, 32)), (BP, (32, 3, 3, 32))], (BP, (1, 16, 16, 32))),
        ("LceBMaxPool2d", [(BP, (1, 16, 16, 32))], (BP, (1, 8, 8, 32))),
        ("LceBconv2d", [(BP, (1, 8, 8, 32)), (BP, (64, 3, 3, 32))], (DType.FLOAT32, (1, 8, 8, 64))),
    ]
    w = g.tensors[g.ops[1].inputs[1]]
    assert w.data.shape == w.storage_shape == (32, 3, 3, 1) and w.data.dtype == np.int32
    assert w.nbytes == 32 * 9 * 4
    sign = load(real, "bconv_sign_out")
    out = sign.tensors[sign.ops[1].outputs[0]]
    assert (out.dtype, out.shape, out.storage_shape) == (BP, (1, 12, 12, 48), (1, 12, 12, 2))
    assert sign.tensors[sign.ops[1].inputs[4]].dtype is DType.INT32  # thresholds stay int32


def test_attrs_use_picoml_names(real):
    g = load(real, "bnn_chain")
    assert g.ops[1].attrs == {"channels_in": 3, "dilation_h_factor": 1, "dilation_w_factor": 1,
                              "fused_activation_function": "NONE", "pad_values": 1, "padding": "SAME",
                              "stride_h": 1, "stride_w": 1}
    assert g.ops[3].attrs == {"filter_height": 2, "filter_width": 2, "padding": "VALID", "stride_h": 2, "stride_w": 2}
    assert g.ops[0].attrs == {} and g.ops[0].custom_options == b""
    assert decode_options(g.ops[1].custom_options)["stride_height"] == 1  # raw options kept for export


def test_options_mapping_is_invertible():
    options = {"channels_in": 40, "dilation_height_factor": 2, "dilation_width_factor": 1,
               "fused_activation_function": 3, "pad_values": 0, "padding": 1, "stride_height": 2,
               "stride_width": 1}
    attrs = attrs_from_options(options)
    assert attrs["padding"] == "VALID" and attrs["fused_activation_function"] == "RELU6"
    assert attrs["dilation_h_factor"] == 2 and attrs["stride_w"] == 1
    assert options_from_attrs(attrs) == options
    assert attrs_from_options({"padding": "same"})["padding"] == "SAME"  # older LCE wrote strings


@pytest.mark.parametrize("name", LCE_MODELS)
def test_export_round_trip(real, name):
    g = load(real, name)
    data = export_tflite(g)
    g2 = picoml.load_tflite(data)
    assert [(o.type, o.attrs, o.inputs, o.outputs, o.version, o.custom_options) for o in g.ops] == \
           [(o.type, o.attrs, o.inputs, o.outputs, o.version, o.custom_options) for o in g2.ops]
    for n, t in g.tensors.items():
        t2 = g2.tensors[n]
        assert (t.shape, t.dtype, t.storage_shape) == (t2.shape, t2.dtype, t2.storage_shape), n
        assert (t.data is None) == (t2.data is None) and (t.data is None or np.array_equal(t.data, t2.data))
    x = np.load(real / f"lce/{name}.npz")["inputs"][:1]
    assert all(np.array_equal(a, b) for a, b in zip(Interpreter(g).run([x]), Interpreter(g2).run([x])))
    # the file as LCE reads it: INT32 tensors with packed shapes
    import tflite

    sg = tflite.Model.GetRootAs(data, 0).Subgraphs(0)
    packed = {sg.Tensors(i).Name().decode(): (sg.Tensors(i).Type(), tuple(sg.Tensors(i).ShapeAsNumpy()))
              for i in range(sg.TensorsLength())}
    for n, t in g.tensors.items():
        if t.dtype is BP:
            assert packed[n] == (2, t.storage_shape)


def pool_chain(c):
    """float -> LceQuantize -> LceBMaxPool2d (3x3 SAME, strides 1, 2) -> LceDequantize."""
    from picoml.ir import Graph, Op
    from picoml.testing.opmodel import tensor

    t = [tensor("x", (1, 5, 6, c), DType.FLOAT32), tensor("p", (1, 5, 6, c), BP), tensor("q", (1, 5, 3, c), BP),
         tensor("y", (1, 5, 3, c), DType.FLOAT32)]
    ops = [Op("LceQuantize", ["x"], ["p"]),
           Op("LceBMaxPool2d", ["p"], ["q"], {"filter_height": 3, "filter_width": 3, "padding": "SAME",
                                              "stride_h": 1, "stride_w": 2}),
           Op("LceDequantize", ["q"], ["y"])]
    return Graph({x.name: x for x in t}, ops, ["x"], ["y"]).validate()


def test_export_of_built_graphs_encodes_options(rng):
    """Graphs built in picoml (no raw options) get LCE's flexbuffer options with integer enums;
    edited attrs are re-encoded rather than shadowed by stale raw options."""
    for g in [bconv_graph(rng, 33, 40, (3, 2), (2, 1), (1, 2), "VALID", 0, "bitpacked", "RELU6"),
              bconv_graph(rng, 5, 3, out="int8"), pool_chain(70),
              quantize_graph((1, 3, 3, 40)), dequantize_graph((2, 65), DType.INT8, (0.2, 1))]:
        data = export_tflite(g)
        g2 = picoml.load_tflite(data)
        assert [(o.type, o.attrs) for o in g.ops] == [(o.type, o.attrs) for o in g2.ops]
        assert [(t.dtype, t.shape) for t in g.tensors.values()] == [(t.dtype, t.shape) for t in g2.tensors.values()]
        op = g2.ops[0]
        if op.type == "LceBconv2d":
            raw = decode_options(op.custom_options)
            assert raw["stride_height"] == op.attrs["stride_h"] and isinstance(raw["padding"], int)
            op.attrs["stride_h"] = 3
            assert picoml.load_tflite(export_tflite(g2)).ops[0].attrs["stride_h"] == 3


def test_bitpacked_model_input_and_output(rng):
    """A graph whose input and output are bitpacked (a bconv alone) round-trips: the pool and
    the conv give the channel counts."""
    g = bconv_graph(rng, 45, 37, out="bitpacked")
    g2 = picoml.load_tflite(export_tflite(g))
    assert g2.input_tensors[0].shape == (1, 7, 6, 45) and g2.output_tensors[0].shape == (1, 7, 6, 37)
    g = bmaxpool_graph(70)
    with pytest.raises(GraphError, match="cannot infer the channel count"):
        picoml.load_tflite(export_tflite(g))


def _reload_with(g, edit):
    g2 = picoml.load_tflite(export_tflite(g))
    edit(g2)
    return export_tflite(g2)


def test_refusals(rng):
    g = bconv_graph(rng, 8, 4)
    with pytest.raises(GraphError, match="channels_in"):
        picoml.load_tflite(_reload_with(g, lambda h: h.ops[0].attrs.update(channels_in=40)))
    with pytest.raises(GraphError, match="channels_in"):
        picoml.load_tflite(_reload_with(g, lambda h: h.ops[0].attrs.update(channels_in=-3)))
    bp = bconv_graph(rng, 8, 4, out="bitpacked")
    with pytest.raises(UnsupportedError, match="zero padding"):
        picoml.load_tflite(_reload_with(bp, lambda h: h.ops[0].attrs.update(pad_values=0)))
    grouped = bconv_graph(rng, 64, 4)
    with pytest.raises(UnsupportedError, match="grouped"):
        picoml.load_tflite(_reload_with(grouped, lambda h: h.ops[0].attrs.update(channels_in=128)))


def test_bitpacked_tensor_read_by_other_op_is_refused(rng):
    from picoml.ir import Op, Tensor

    g = quantize_graph((1, 4, 4, 8))
    g.tensors["r"] = Tensor("r", (1, 4, 4, 8), DType.BITPACKED)
    g.tensors["s"] = Tensor("s", (2,), DType.INT32, data=np.array([16, 8], np.int32))
    g.ops.append(Op("RESHAPE", ["y", "s"], ["r"]))
    g.outputs = ["r"]
    with pytest.raises(UnsupportedError, match="only in LCE ops"):
        picoml.load_tflite(export_tflite(g))


def test_bsign_prototype_stays_refused(real):
    g = picoml.load_tflite(real / "larq_lce/example_model_bsign.tflite")
    assert "Bsign" in [op.type for op in g.ops] and "Bsign" not in LCE_OPS
    with pytest.raises(UnsupportedError, match="Bsign"):
        Interpreter(g)


def test_corrupt_lce_options_only_raise_picoml_errors(real, rng):
    """Flip bytes inside the LCE options and shapes: loading and preparing fail cleanly."""
    raw = (real / "lce/bnn_chain.tflite").read_bytes()
    at = raw.find(b"channels_in")
    for _ in range(300):
        b = bytearray(raw)
        for _ in range(3):
            b[int(rng.integers(at, min(len(b), at + 700)))] = int(rng.integers(256))
        try:
            Interpreter(picoml.load_tflite(bytes(b)))
        except PicomlError:
            pass
