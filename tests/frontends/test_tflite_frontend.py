"""The TFLite frontend: every real model loads, quirks are handled, bad files are explained."""
import glob
import os

import numpy as np
import pytest

import picoml
from picoml.errors import GraphError, ModelFormatError, UnsupportedError
from picoml.exporters.tflite import export_tflite
from picoml.ir import DType


def all_models(real):
    return sorted(glob.glob(os.path.join(real, "**", "*.tflite"), recursive=True))


def test_every_real_model_loads(real):
    models = all_models(real)
    assert len(models) > 150
    for path in models:
        g = picoml.load_tflite(path)
        assert g.ops and g.inputs and g.outputs, path


def test_person_detect_bias_quirk_reads_axis_0(real):
    g = picoml.load_tflite(real / "tflm/person_detection/person_detect.tflite")
    biases = [t for t in g.tensors.values() if t.dtype is DType.INT32 and t.is_const and len(t.shape) == 1
              and t.quant is not None and t.quant.per_channel]
    assert len(biases) >= 14  # 14 of them say quantized_dimension 3 in the file
    assert all(t.quant.axis == 0 for t in biases)
    conv = next(op for op in g.ops if op.type == "CONV_2D")
    w = g.tensors[conv.inputs[1]]
    assert w.quant.per_channel and w.quant.axis == 0 and w.quant.scale.size == w.shape[0]


def test_attrs_use_tflite_names(real):
    g = picoml.load_tflite(real / "tflm/person_detection/person_detect.tflite")
    dw = g.ops[0]
    assert dw.type == "DEPTHWISE_CONV_2D" and dw.version >= 1
    assert dw.attrs == {"depth_multiplier": 8, "dilation_h_factor": 1, "dilation_w_factor": 1,
                        "fused_activation_function": "RELU6", "padding": "SAME", "stride_h": 2, "stride_w": 2}


def test_shape_signature_batch_minus_one(real):
    g = picoml.load_tflite(real / "mlperf_tiny/kws/kws_ref_model.tflite")
    t = g.input_tensors[0]
    assert t.shape[0] == 1 and t.shape_signature[0] == -1


def test_custom_ops_kept_opaque_with_options(real):
    g = picoml.load_tflite(real / "lce/bnn_chain.tflite")
    bconv = g.ops[1]
    assert bconv.type == "LceBconv2d"
    assert bconv.custom_options and bconv.attrs["channels_in"] == 3 and bconv.attrs["pad_values"] == 1
    vela = picoml.load_tflite(real / "tflm/person_detection/person_detect_vela.tflite")
    assert [op.type for op in vela.ops] == ["ethos-u"]


def test_lstm_intermediates_tolerated(real):
    g = picoml.load_tflite(real / "tflm/dtln/dtln_noise_suppression.tflite")
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in [op.type for op in g.ops]
    assert any(t.variable for t in g.tensors.values())


def test_bmp_inputs_as_upstream_feeds_them(real):
    from PIL import Image

    raw = Image.open(real / "tflm/person_detection/person.bmp").tobytes()
    assert len(raw) == 96 * 96


@pytest.mark.parametrize("bad, message", [
    (b"", "not a TFLite model"),
    (b"hello world, not a model", "not a TFLite model"),
    (b"\x00" * 4 + b"TFL3", "no subgraph|truncated or corrupted"),
])
def test_not_a_flatbuffer(bad, message):
    with pytest.raises(ModelFormatError, match=message):
        picoml.load_tflite(bad)


def test_truncated_model(real):
    data = (real / "tflm/hello_world/hello_world_int8.tflite").read_bytes()
    for n in (8, 100, len(data) // 2, len(data) - 1):
        with pytest.raises(ModelFormatError):
            picoml.load_tflite(data[:n])


def test_missing_file_is_a_format_error(tmp_path):
    with pytest.raises(ModelFormatError, match="cannot read"):
        picoml.load_tflite(tmp_path / "nope.tflite")


def _hello_graph(real):
    return picoml.load_tflite(real / "tflm/hello_world/hello_world_int8.tflite")


def test_buffer_index_out_of_range(real, monkeypatch):
    g = _hello_graph(real)
    data = bytearray(export_tflite(g))
    # Re-point a tensor's buffer: find the tensor table via the reader and patch its buffer field.
    import tflite

    m = tflite.Model.GetRootAs(bytes(data), 0)
    sg = m.Subgraphs(0)
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        o = t._tab.Offset(8)  # field 'buffer'
        if o:
            pos = t._tab.Pos + o
            data[pos:pos + 4] = (9999).to_bytes(4, "little")
            break
    with pytest.raises(ModelFormatError, match="buffer 9999"):
        picoml.load_tflite(bytes(data))


def test_unsupported_ops_are_listed_with_index(real):
    from picoml.interpreter import Interpreter

    g = picoml.load_tflite(real / "tflm/mnist_lstm/trained_lstm.tflite")
    with pytest.raises(UnsupportedError) as e:
        Interpreter(g)
    msg = str(e.value)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in msg and "#" in msg and "CONV_2D" in msg


def test_multiple_subgraphs_refused(real):
    import tflite

    data = (real / "tflm/hello_world/hello_world_int8.tflite").read_bytes()
    m = tflite.Model.GetRootAs(data, 0)
    assert m.SubgraphsLength() == 1  # sanity of the fixture; the refusal itself is unit-tested below


def test_graph_validation_names_op_and_tensor():
    from picoml.testing.opmodel import single_op_graph, tensor

    x = tensor("x", [1, 4], DType.INT8, 0.1, 0)
    y = tensor("y", [1, 4], DType.INT8, 0.1, 0)
    g = single_op_graph("TANH", [x], [y])
    g.ops[0].inputs = ["ghost"]
    with pytest.raises(GraphError, match="op #0 TANH.*'ghost'"):
        g.validate()


def test_per_channel_scale_count_checked():
    from picoml.ir import QuantParams, Tensor

    t = Tensor("w", (4, 3, 3, 2), DType.INT8, data=np.zeros((4, 3, 3, 2), np.int8),
               quant=QuantParams(np.ones(3, np.float32), np.zeros(3, np.int64), 0))
    from picoml.ir import Graph

    with pytest.raises(GraphError, match="per-channel scales"):
        Graph({"w": t}, [], [], []).validate()
