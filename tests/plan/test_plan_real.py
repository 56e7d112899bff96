"""Every real model plans with every algorithm, and picoml's arena is compared with what
tflite-micro's own allocator reports for the same model."""
from __future__ import annotations

import json
import re

import pytest

from picoml import load_tflite
from picoml.plan import ALGORITHMS, check_no_overlap, plan_graph
from picoml.testing.peers import tflm_available
from picoml.testing.real import real_dir

REAL = real_dir()
MODELS = sorted(str(p.relative_to(REAL)) for p in REAL.rglob("*.tflite")) if REAL else [None]

# name -> (path, key in expected_tflm/tflm_arena.json or None)
TFLM_MODELS = {
    "person_detect": ("tflm/person_detection/person_detect.tflite", None),
    "micro_speech_quantized": ("tflm/micro_speech/micro_speech_quantized.tflite", None),
    "hello_world_int8": ("tflm/hello_world/hello_world_int8.tflite", None),
    "hello_world_float": ("tflm/hello_world/hello_world_float.tflite", None),
    "kws_int8": ("mlperf_tiny/kws/kws_ref_model.tflite", "kws_int8"),
    "vww_int8": ("mlperf_tiny/vww/vww_96_int8.tflite", "vww_int8"),
    "vww_float": ("mlperf_tiny/vww/vww_96_float.tflite", "vww_float"),
    "ic_int8": ("mlperf_tiny/ic/pretrainedResnet_quant.tflite", "ic_int8"),
    "ic_large_int8": ("mlperf_tiny/ic/pretrainedResnet_large_int8.tflite", "ic_large_int8"),
    "ic_float": ("mlperf_tiny/ic/pretrainedResnet.tflite", "ic_float"),
    "ad_int8": ("mlperf_tiny/ad/ad01_int8.tflite", "ad_int8"),
    "ad_float": ("mlperf_tiny/ad/ad01_fp32.tflite", "ad_float"),
    "sww_int8": ("mlperf_tiny/sww/str_ww_ref_model.tflite", "sww_int8"),
    "mobilenet_v2_int8": ("tflm/mobilenet_v2_pytorch/mobilenet_v2_quantized_1x3x224x224.tflite", "mobilenet_v2_int8"),
    "simple_add": ("tflm/misc/simple_add_model.tflite", None),
}


def need_real() -> None:
    if REAL is None:
        pytest.skip("../shared/real not present: no real models to plan")


@pytest.mark.parametrize("rel", MODELS)
def test_real_model_plans_with_every_algorithm(rel):
    need_real()
    graph = load_tflite(REAL / rel)
    plans = {name: plan_graph(graph, algorithm=name) for name in ALGORITHMS}
    for plan in plans.values():
        check_no_overlap(plan)
        assert plan.arena_bytes >= max(plan.live_bytes, default=0)
        assert len(plan.live_bytes) == len(graph.ops)
    naive = plans["naive"]
    assert naive.arena_bytes == sum(b.size for b in naive.buffers)
    spans = sorted((b.offset, b.end) for b in naive.buffers)
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:]))  # no byte is reused
    assert plans["best_fit"].arena_bytes <= plans["greedy"].arena_bytes <= naive.arena_bytes
    # every non-constant tensor an op touches has an offset
    used = {n for op in graph.ops for n in [*op.inputs, *op.outputs] if n and not graph.tensors[n].is_const}
    assert used <= set(plans["best_fit"].offsets)


def tflm_arena(path, capfd, arena_size=None) -> dict[str, int]:
    """tflite-micro's arena use for a model, read from its allocation recording."""
    from tflite_micro.python.tflite_micro import runtime

    capfd.readouterr()
    interp = runtime.Interpreter.from_file(str(path), arena_size=arena_size)
    interp.print_allocations()
    err = capfd.readouterr().err
    found = {k: int(v) for k, v in re.findall(r"Arena allocation (\w+) (\d+) bytes", err)}
    assert set(found) == {"head", "tail", "total"}, err
    return found


@pytest.mark.parametrize("name", sorted(TFLM_MODELS))
def test_arena_vs_tflm(name, capfd):
    need_real()
    if not tflm_available():
        pytest.skip("tflite-micro is not installed")
    rel, key = TFLM_MODELS[name]
    tflm = tflm_arena(REAL / rel, capfd, arena_size=4_000_000)
    graph = load_tflite(REAL / rel)
    # TFLM plans the same lifetimes with the same greedy rule (none of these models has
    # variables or kernel scratch there), so picoml's greedy without in-place ops reproduces
    # its non-persistent arena ("head") to the byte
    assert plan_graph(graph, algorithm="greedy", in_place=False).arena_bytes == tflm["head"]
    assert plan_graph(graph).arena_bytes <= tflm["head"]
    # and the generated C, whose kernels' scratch is planned too (picoml.plan.scratch_fit)
    from picoml.codegen import generate

    assert generate(graph).arena_bytes <= tflm["head"]
    if key is not None:
        recorded = json.loads((REAL / "expected_tflm" / "tflm_arena.json").read_text())[key]
        assert recorded["head"] == tflm["head"]
