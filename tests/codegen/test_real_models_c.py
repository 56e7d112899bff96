"""Every supported real model, compiled to C for the host, gives the reference interpreter's
bits on its upstream inputs and 50 seeded random inputs; and runs clean under ASan/UBSan."""
import glob
import os
import subprocess

import numpy as np
import pytest

import picoml
from picoml.codegen import generate
from picoml.interpreter import Interpreter
from picoml.testing.opmodel import assert_same, random_input
from picoml.targets.host import compile_host
from tests.conftest import require_c_kernels

MODELS = [
    "tflm/person_detection/person_detect.tflite",
    "tflm/micro_speech/micro_speech_quantized.tflite",
    "tflm/hello_world/hello_world_int8.tflite",
    "tflm/hello_world/hello_world_float.tflite",
    "tflm/misc/simple_add_model.tflite",
    "mlperf_tiny/kws/kws_ref_model.tflite",
    "mlperf_tiny/kws/kws_ref_model_float32.tflite",
    "mlperf_tiny/vww/vww_96_int8.tflite",
    "mlperf_tiny/vww/vww_96_float.tflite",
    "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
    "mlperf_tiny/ic/pretrainedResnet_large_int8.tflite",
    "mlperf_tiny/ic/pretrainedResnet.tflite",
    "mlperf_tiny/ad/ad01_int8.tflite",
    "mlperf_tiny/ad/ad01_fp32.tflite",
    "mlperf_tiny/sww/str_ww_ref_model.tflite",
    "tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite",
]
N_RANDOM = 50


def upstream_inputs(real, rel, g):
    """The labelled inputs that ship with a model, where there are any."""
    if rel.startswith("tflm/person_detection"):
        from PIL import Image

        return [[np.frombuffer(Image.open(real / f"tflm/person_detection/{b}.bmp").tobytes(), np.uint8)
                 .view(np.int8).reshape(1, 96, 96, 1)] for b in ("person", "no_person")]
    if rel.startswith("tflm/micro_speech"):
        return [[np.load(p).reshape(1, 1960)] for p in sorted(glob.glob(str(real / "tflm/micro_speech/derived_*.npy")))]
    if rel == "mlperf_tiny/kws/kws_ref_model.tflite":
        return [[np.load(real / "mlperf_tiny/kws/kws_sample_input_int8.npy").reshape(g.input_tensors[0].shape)]]
    return []


@pytest.mark.parametrize("rel", MODELS)
def test_real_model_in_c_equals_reference(real, rel):
    g = picoml.load_tflite(real / rel)
    require_c_kernels(g)
    rng = np.random.default_rng(MODELS.index(rel))
    cases = upstream_inputs(real, rel, g) + [[random_input(t, rng) for t in g.input_tensors]
                                             for _ in range(N_RANDOM)]
    ref, host = Interpreter(g), compile_host(g)
    for inputs in cases:
        assert_same(host.run(inputs), ref.run(inputs))


def _seanet(real):
    return sorted(glob.glob(os.path.join(real, "tflm/seanet/*/*.tflite")))


@pytest.mark.parametrize("kind", ["add", "conv", "leaky_relu", "pad", "quantize", "strided_slice", "sub",
                                  "transpose_conv"])
def test_seanet_models_in_c(real, kind):
    paths = sorted(glob.glob(str(real / f"tflm/seanet/{kind}/*.tflite")))
    assert paths
    for path in paths:
        stem = path[:-len(".tflite")]
        g = picoml.load_tflite(path)
        require_c_kernels(g)
        inputs = []
        for i, t in enumerate(g.input_tensors):
            (csv,) = glob.glob(f"{stem}_input{i}_*.csv")
            inputs.append(np.array([int(v) for v in open(csv).read().strip().split(",")], t.dtype.numpy)
                          .reshape(t.shape))
        assert_same(compile_host(g).run(inputs), Interpreter(g).run(inputs))


@pytest.mark.parametrize("rel", MODELS)
def test_real_model_clean_under_sanitizers(real, rel, tmp_path):
    g = picoml.load_tflite(real / rel)
    require_c_kernels(g)
    out = generate(g).write(tmp_path / "p")
    exe = out / "model_main"
    srcs = sorted(str(p) for p in out.glob("*.c"))
    flags = ["-std=c99", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
             "-fno-omit-frame-pointer"]
    r = subprocess.run(["gcc", *flags, "-o", str(exe), *srcs, "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rng = np.random.default_rng(7)
    inputs = [random_input(t, rng) for t in g.input_tensors]
    (out / "in.bin").write_bytes(b"".join(np.ascontiguousarray(x).tobytes() for x in inputs))
    r = subprocess.run([str(exe), str(out / "in.bin"), str(out / "out.bin")], capture_output=True, text=True,
                       env={**os.environ, "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0"})
    assert r.returncode == 0 and "runtime error" not in r.stderr, r.stderr[-3000:]
    raw, got = (out / "out.bin").read_bytes(), []
    for t in g.output_tensors:
        got.append(np.frombuffer(raw[:t.nbytes], t.dtype.numpy).reshape(t.shape))
        raw = raw[t.nbytes:]
    assert not raw
    assert_same(got, Interpreter(g).run(inputs))
