"""The QEMU fast path of the Cortex-M target gives the Unicorn path's figures, bit for bit:
same outputs, instructions, estimated cycles and per-op cycles (targets/qemu.py explains why)."""
import shutil
import time

import numpy as np
import pytest

for tool, how in (("arm-none-eabi-gcc", "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi"),
                  ("qemu-system-arm", "apt-get install qemu-system-arm")):
    if not shutil.which(tool):
        pytest.skip(f"{tool} is not installed ({how}); CI installs it", allow_module_level=True)
pytest.importorskip("unicorn", reason="unicorn is not installed (pip install unicorn==2.1.4)")
pytest.importorskip("elftools", reason="pyelftools is not installed (pip install pyelftools==0.33)")
pytest.importorskip("capstone", reason="capstone is not installed (pip install capstone==5.0.9)")

import picoml  # noqa: E402
from picoml.errors import PicomlError  # noqa: E402
from picoml.interpreter import Interpreter  # noqa: E402
from picoml.targets.cortex_m import compile_cortex_m  # noqa: E402
from picoml.testing.opmodel import assert_same, random_input  # noqa: E402
from tests.conftest import require_c_kernels  # noqa: E402
from tests.targets.test_cortex_m import logistic_graph  # noqa: E402

SAME = ("instructions", "cycles", "latency_ms", "flash_code_bytes", "flash_weight_bytes", "sram_arena_bytes",
        "sram_static_bytes", "outputs_match", "ops", "macs")


def test_person_detect_same_figures_as_unicorn(real):
    g = picoml.load_tflite(real / "tflm/person_detection/person_detect.tflite")
    require_c_kernels(g)
    x = [random_input(g.input_tensors[0], np.random.default_rng(5))]
    figs, wall = {}, {}
    for emulator in ("unicorn", "qemu"):
        model = compile_cortex_m(g, emulator=emulator)  # optimized kernels
        assert_same(model.run(x), Interpreter(g).run(x))
        t0 = time.perf_counter()
        figs[emulator] = model.bench(x)
        wall[emulator] = time.perf_counter() - t0
    u, q = figs["unicorn"], figs["qemu"]
    print(f"person_detect bench wall: unicorn {wall['unicorn']:.3f} s, qemu {wall['qemu']:.3f} s")
    assert q["outputs_match"] and q["instructions"] > 1_000_000
    assert {k: q[k] for k in SAME} == {k: u[k] for k in SAME}
    assert [o["type"] for o in q["ops"]] == [op.type for op in g.ops]
    assert 0.99 * q["cycles"] <= sum(o["cycles"] for o in q["ops"]) <= q["cycles"]
    # the READY handler's stack (an SVC frame) is shallower than an inference's
    assert q["stack_bytes"] == u["stack_bytes"]


def test_qemu_stack_bound():
    # QEMU reads the inputs in an SVC handler at the READY mark: its frame (32 bytes of exception
    # frame plus the handler's own) can be the deepest point of a tiny model, never less deep
    g = logistic_graph(64)
    u, q = (compile_cortex_m(g, emulator=e).bench(seed=2) for e in ("unicorn", "qemu"))
    assert u["stack_bytes"] <= q["stack_bytes"] <= u["stack_bytes"] + 128
    assert q["outputs_match"] and (q["instructions"], q["cycles"]) == (u["instructions"], u["cycles"])


def test_unsupported_settings_are_rejected():
    g = logistic_graph(16)
    with pytest.raises(PicomlError, match="qemu emulator runs"):
        compile_cortex_m(g, cpu="cortex-m33", emulator="qemu")
    with pytest.raises(PicomlError, match="emulator must be one of"):
        compile_cortex_m(g, emulator="gem5")
    with pytest.raises(PicomlError, match="flash reads"):
        compile_cortex_m(g, flash_wait_states=1, emulator="qemu")


def test_missing_qemu_says_how_to_install(monkeypatch):
    monkeypatch.setenv("PICOML_QEMU", "/nonexistent/qemu-system-arm")
    with pytest.raises(PicomlError, match="apt-get install qemu-system-arm"):
        compile_cortex_m(logistic_graph(16), emulator="qemu")


def test_cli_bench_emulator_qemu(tmp_path, capsys):
    import json

    from picoml.cli import main
    from picoml.exporters.tflite import export_tflite

    path = tmp_path / "m.tflite"
    path.write_bytes(export_tflite(logistic_graph(32)))
    outs = []
    for emulator in ("unicorn", "qemu"):
        assert main(["bench", str(path), "--json", "--emulator", emulator]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    for o in outs:  # a tiny model: the READY handler's stack is the deepest (test_qemu_stack_bound)
        o.pop("stack_bytes")
    assert outs[0] == outs[1] and outs[1]["outputs_match"]
