"""Mutated real models (bit flips, truncation, splices) must only ever raise picoml's errors.

Each case goes as far as it can: load, prepare every op, and (when the model is small) one
inference on zeros. Seeded, so a failure names a reproducible case.
"""
import numpy as np
import pytest

import picoml
from picoml.errors import PicomlError
from picoml.interpreter import Interpreter

SEED_MODELS = [
    "tflm/hello_world/hello_world_int8.tflite",
    "tflm/hello_world/hello_world_float.tflite",
    "tflm/misc/simple_add_model.tflite",
    "tflm/micro_speech/micro_speech_quantized.tflite",
    "tflm/person_detection/person_detect.tflite",
    "tflm/seanet/conv/conv0.tflite",
    "tflm/seanet/add/add0.tflite",
    "tflm/seanet/strided_slice/strided_slice0.tflite",
    "tflm/seanet/transpose_conv/transpose_conv4.tflite",
    "mlperf_tiny/kws/kws_ref_model.tflite",
    "lce/bnn_chain.tflite",
]
CASES = 2000
MAX_RUN_BYTES = 4 << 20  # run inference only when activations stay small


def mutate(data: bytes, rng: np.random.Generator, donors: list[bytes]) -> bytes:
    b = bytearray(data)
    kind = rng.integers(6)
    if kind == 0:  # flip a few bits
        for _ in range(rng.integers(1, 9)):
            i = rng.integers(len(b))
            b[i] ^= 1 << int(rng.integers(8))
    elif kind == 1:  # overwrite bytes with extreme values
        for _ in range(rng.integers(1, 5)):
            i = rng.integers(len(b))
            b[i] = int(rng.choice([0, 0xFF, 0x7F, 0x80, rng.integers(256)]))
    elif kind == 2:  # truncate
        b = b[: rng.integers(len(b))]
    elif kind == 3:  # splice a chunk of another model in
        d = donors[rng.integers(len(donors))]
        n = int(rng.integers(1, 256))
        src = int(rng.integers(max(1, len(d) - n)))
        dst = int(rng.integers(len(b)))
        b[dst:dst + n] = d[src:src + n]
    elif kind == 4:  # delete a range
        i = int(rng.integers(len(b)))
        del b[i:i + int(rng.integers(1, 64))]
    else:  # overwrite a 4-byte word (offsets, lengths, indices)
        i = int(rng.integers(max(1, len(b) - 4))) & ~3
        b[i:i + 4] = int(rng.choice([0, 1, -1, 2**31 - 1, -(2**31), rng.integers(-1000, 1000)])).to_bytes(
            4, "little", signed=True)
    return bytes(b)


def exercise(data: bytes) -> None:
    g = picoml.load_tflite(data)
    interp = Interpreter(g)
    if sum(t.nbytes for t in g.tensors.values() if not t.is_const) > MAX_RUN_BYTES or interp.macs > 2_000_000:
        return
    interp.run([np.zeros(t.shape, t.dtype.numpy) for t in g.input_tensors])


def test_mutated_models_only_raise_picoml_errors(real):
    rng = np.random.default_rng(20261121)
    models = [(real / m).read_bytes() for m in SEED_MODELS]
    outcomes = {"ok": 0, "picoml_error": 0}
    for case in range(CASES):
        which = int(rng.integers(len(models)))
        data = mutate(models[which], rng, models)
        try:
            exercise(data)
            outcomes["ok"] += 1
        except PicomlError:
            outcomes["picoml_error"] += 1
        except Exception as e:  # noqa: BLE001 - exactly what this test hunts
            pytest.fail(f"case {case} (seed model {SEED_MODELS[which]}): {type(e).__name__}: {e}")
    assert sum(outcomes.values()) == CASES
    assert outcomes["picoml_error"] > CASES // 10  # the mutations really do break models
