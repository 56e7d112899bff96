"""The exporter writes back what the frontend read, and tflite-micro runs it unchanged."""
import glob
import os

import numpy as np

import picoml
from picoml.exporters.tflite import export_tflite
from picoml.testing.peers import run_tflm


def test_round_trip_every_real_model(real):
    paths = sorted(glob.glob(os.path.join(real, "**", "*.tflite"), recursive=True))
    for path in paths:
        g = picoml.load_tflite(path)
        g2 = picoml.load_tflite(export_tflite(g))
        assert [(o.type, o.attrs, o.inputs, o.outputs, o.version, o.custom_options) for o in g.ops] == \
               [(o.type, o.attrs, o.inputs, o.outputs, o.version, o.custom_options) for o in g2.ops], path
        for name, t in g.tensors.items():
            t2 = g2.tensors[name]
            assert (t.shape, t.dtype, t.variable) == (t2.shape, t2.dtype, t2.variable)
            assert (t.data is None) == (t2.data is None)
            if t.data is not None:
                assert np.array_equal(t.data, t2.data)
            if t.quant is not None:
                assert np.array_equal(t.quant.scale, t2.quant.scale)
                assert np.array_equal(t.quant.zero_point, t2.quant.zero_point)


def test_exported_int8_model_is_bit_identical_in_tflm(real, rng):
    path = real / "tflm/person_detection/person_detect.tflite"
    x = rng.integers(-128, 128, (1, 96, 96, 1)).astype(np.int8)
    exported = export_tflite(picoml.load_tflite(path))
    assert np.array_equal(run_tflm(path, [x])[0], run_tflm(exported, [x])[0])


def test_export_to_path_is_atomic(real, tmp_path):
    g = picoml.load_tflite(real / "tflm/hello_world/hello_world_int8.tflite")
    out = tmp_path / "m.tflite"
    data = export_tflite(g, out)
    assert out.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]
