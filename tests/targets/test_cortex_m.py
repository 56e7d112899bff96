"""The Cortex-M target: real models run in the emulator give the reference interpreter's bits,
the figures are consistent, every supported core runs, and a model that does not fit says so."""
import json
import shutil

import numpy as np
import pytest

if not shutil.which("arm-none-eabi-gcc"):
    pytest.skip("arm-none-eabi-gcc is not installed (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi "
                "binutils-arm-none-eabi)", allow_module_level=True)
pytest.importorskip("unicorn", reason="unicorn is not installed (pip install unicorn==2.1.4)")
pytest.importorskip("elftools", reason="pyelftools is not installed (pip install pyelftools==0.33)")
pytest.importorskip("capstone", reason="capstone is not installed (pip install capstone==5.0.9)")

import picoml  # noqa: E402
from picoml.errors import PicomlError, ResourceError  # noqa: E402
from picoml.interpreter import Interpreter  # noqa: E402
from picoml.ir import DType  # noqa: E402
from picoml.targets.cortex_m import CPUS, compile_cortex_m  # noqa: E402
from picoml.testing.opmodel import assert_same, random_input, single_op_graph, tensor  # noqa: E402
from tests.conftest import require_c_kernels  # noqa: E402


def logistic_graph(n=64, dtype=DType.INT8):
    """A one-op model whose C kernel exists: enough to exercise building and running."""
    if dtype is DType.FLOAT32:
        g = single_op_graph("LOGISTIC", [tensor("x", [1, n], dtype)], [tensor("y", [1, n], dtype)])
    else:
        x, y = tensor("x", [1, n], dtype, 0.1, 3), tensor("y", [1, n], dtype, 1 / 256, -128)
        g = single_op_graph("LOGISTIC", [x], [y])
    require_c_kernels(g)
    return g


def real_inputs(real, rel, g, rng, n_random):
    """Upstream inputs shipped with a model, then seeded random ones."""
    cases = []
    if rel.startswith("tflm/person_detection"):
        from PIL import Image

        cases = [[np.frombuffer(Image.open(real / f"tflm/person_detection/{b}.bmp").tobytes(), np.uint8)
                  .view(np.int8).reshape(1, 96, 96, 1)] for b in ("person", "no_person")]
    elif rel.startswith("tflm/micro_speech"):
        cases = [[np.load(p).reshape(1, 1960)] for p in sorted((real / "tflm/micro_speech").glob("derived_*.npy"))][:2]
    return cases + [[random_input(t, rng) for t in g.input_tensors] for _ in range(n_random)]


@pytest.mark.parametrize("rel, n_random", [
    ("tflm/person_detection/person_detect.tflite", 1),
    ("tflm/micro_speech/micro_speech_quantized.tflite", 2),
    ("tflm/hello_world/hello_world_int8.tflite", 5),
])
def test_real_model_in_emulator_equals_reference(real, rel, n_random):
    g = picoml.load_tflite(real / rel)
    require_c_kernels(g)
    model, ref = compile_cortex_m(g), Interpreter(g)
    for inputs in real_inputs(real, rel, g, np.random.default_rng(3), n_random):
        assert_same(model.run(inputs), ref.run(inputs))  # run() checks too; this says where it differs


def test_person_detect_figures(real):
    g = picoml.load_tflite(real / "tflm/person_detection/person_detect.tflite")
    require_c_kernels(g)
    model = compile_cortex_m(g)
    fig = model.bench()
    assert fig["outputs_match"] and fig["mismatch"] is None
    assert fig["instructions"] > 1_000_000 and fig["cycles"] > fig["instructions"]
    assert fig["latency_ms"] == pytest.approx(fig["cycles"] / 120e3)
    ops = fig["ops"]
    assert [o["type"] for o in ops] == [op.type for op in g.ops]
    # the ops account for the whole inference but the calls between them
    assert 0.99 * fig["cycles"] <= sum(o["cycles"] for o in ops) <= fig["cycles"]
    # the emitter's const arrays, plus the op parameter structs it does not count
    assert model.project.weight_bytes <= fig["flash_weight_bytes"] <= model.project.weight_bytes + 256 * len(ops)
    assert 0 < fig["flash_code_bytes"] < 64 * 1024
    assert fig["sram_arena_bytes"] == model.project.arena_bytes
    assert 0 < fig["sram_static_bytes"] < 1024 and 0 < fig["stack_bytes"] < 4096
    assert model.bench()["cycles"] == fig["cycles"]  # deterministic
    assert model.report()["last_bench"]["cycles"] == fig["cycles"]


def test_profile_marks_barely_change_the_figures():
    # a mark's own instruction is not counted, but it keeps the compiler from e.g. turning the
    # last kernel call into a tail call: a few instructions per op
    g = logistic_graph(256)
    with_marks, without = compile_cortex_m(g).bench(), compile_cortex_m(g, profile=False).bench()
    assert abs(with_marks["instructions"] - without["instructions"]) <= 4
    assert abs(with_marks["cycles"] - without["cycles"]) <= 8
    assert without["ops"] == [] and len(with_marks["ops"]) == 1


@pytest.mark.parametrize("cpu", CPUS)
@pytest.mark.parametrize("dtype", [DType.INT8, DType.FLOAT32])
def test_every_core_runs(cpu, dtype):
    g = logistic_graph(32, dtype)
    model = compile_cortex_m(g, cpu=cpu)
    rng = np.random.default_rng(5)
    x = random_input(g.input_tensors[0], rng)
    assert_same(model.run([x]), Interpreter(g).run([x]))
    fig = model.bench()
    assert fig["cpu"] == cpu and fig["outputs_match"] and fig["cycles"] >= fig["instructions"] > 0


def test_flash_wait_states_only_add_cycles():
    g = logistic_graph(64)
    zero, three = compile_cortex_m(g).bench(), compile_cortex_m(g, flash_wait_states=3).bench()
    assert three["instructions"] == zero["instructions"] and three["cycles"] > zero["cycles"]
    assert three["flash_reads"] > 0


def test_model_too_big_for_flash_says_by_how_much():
    with pytest.raises(ResourceError, match=r"does not fit in flash: it needs [\d,]+ bytes \(code [\d,]+ \+ weights "
                                            r"[\d,]+\) but .* has 1,024 \([\d,]+ bytes over\)"):
        compile_cortex_m(logistic_graph(64), flash_kb=1)


def test_arena_too_big_for_sram_says_by_how_much():
    with pytest.raises(ResourceError, match=r"does not fit in SRAM: it needs [\d,]+ bytes \(arena 65,536 .* but .* "
                                            r"has 16,384 \([\d,]+ bytes over\)"):
        compile_cortex_m(logistic_graph(65536), sram_kb=16)


def test_static_data_leaving_no_stack_is_caught_at_link_time():
    # the arena alone fits exactly, so the linker's stack reservation is what fails
    with pytest.raises(ResourceError, match=r"does not fit in SRAM: .*arena 16,384 \+ other static data [\d,]+ \+ a "
                                            r"minimum of 1,024 of stack\) but .* has 16,384"):
        compile_cortex_m(logistic_graph(16384), sram_kb=16)


@pytest.mark.parametrize("kwargs, message", [
    ({"cpu": "cortex-m85"}, "unknown Cortex-M cpu"), ({"flash_kb": 0}, "flash_kb must be positive"),
    ({"opt": "-O9; rm"}, "opt must be one of"), ({"flash_wait_states": -1}, "flash_wait_states"),
])
def test_bad_settings_are_rejected(kwargs, message):
    with pytest.raises(PicomlError, match=message):
        compile_cortex_m(logistic_graph(8), **kwargs)


def test_cli_bench_json_and_plot(tmp_path, capsys):
    from picoml.cli import main
    from picoml.exporters.tflite import export_tflite

    path = tmp_path / "m.tflite"
    path.write_bytes(export_tflite(logistic_graph(64)))
    assert main(["bench", str(path), "--json", "--plot", str(tmp_path / "ops.png"), "--clock-mhz", "80"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["instructions", "cycles", "latency_ms", "clock_mhz", "flash_code_bytes", "flash_weight_bytes",
                         "sram_arena_bytes", "sram_static_bytes", "stack_bytes", "outputs_match", "ops"]
    assert out["outputs_match"] is True and out["clock_mhz"] == 80
    assert out["ops"] == [{"type": "LOGISTIC", "cycles": out["ops"][0]["cycles"]}]
    assert (tmp_path / "ops.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["bench", str(path), "--cpu", "cortex-m0plus"]) == 0
    assert "cortex-m0plus" in capsys.readouterr().out
    assert main(["bench", str(path), "--sram-kb", "1"]) == 2
    assert "does not fit in SRAM" in capsys.readouterr().err


def test_cli_run_engine_cortex_m4(tmp_path, capsys):
    from picoml.cli import main
    from picoml.exporters.tflite import export_tflite

    g = logistic_graph(8)
    path = tmp_path / "m.tflite"
    path.write_bytes(export_tflite(g))
    x = random_input(g.input_tensors[0], np.random.default_rng(0))
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(path), "--engine", "cortex-m4", "--input", str(tmp_path / "x.npy")]) == 0
    expected = Interpreter(g).run([x])[0].ravel().tolist()
    assert str(expected) in capsys.readouterr().out


def test_python_and_native_block_hooks_agree(real):
    from picoml.targets.emulator import Emulator

    g = picoml.load_tflite(real / "tflm/micro_speech/micro_speech_quantized.tflite")
    require_c_kernels(g)
    model = compile_cortex_m(g)
    x = [random_input(g.input_tensors[0], np.random.default_rng(9)).tobytes()]
    em = model.emulator
    slow = Emulator(em.firmware, em.cpu, em.flash, em.ram, em.cycle_model, native_hook=False).run(x)
    fast = em.run(x)
    assert fast.marks == slow.marks and fast.outputs == slow.outputs and fast.stack_bytes == slow.stack_bytes
