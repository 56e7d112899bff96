"""The demo's pieces at a reduced size: train both models briefly, convert, compile for the host
and the Cortex-M4, and write the report (table as markdown and JSON, memory plots)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.py"


def _load_demo():
    spec = importlib.util.spec_from_file_location("picoml_demo", DEMO)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_demo_reduced_run_writes_the_report(tmp_path):
    pytest.importorskip("sklearn", reason="the built-in digits come with scikit-learn")
    from picoml.targets.cortex_m import toolchain

    try:
        toolchain()
    except Exception as e:  # no arm-none-eabi-gcc on this machine
        pytest.skip(f"Cortex-M toolchain unavailable: {e}")
    demo = _load_demo()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        settings = demo.Settings(float_epochs=1, qat_epochs=1, bnn_epochs=1, train_limit=192, test_limit=24,
                                 int8_width=1.0, out=str(tmp_path))
        results = demo.run(settings)
    finally:
        torch.set_num_threads(threads)
    report = tmp_path / "report"
    assert {p.name for p in report.iterdir()} >= {"table.md", "table.json", "memory_int8.png", "memory_bnn.png"}
    table = json.loads((report / "table.json").read_text())
    assert [row[0] for row in table["rows"]] == ["int8 CNN", "BNN"]
    assert set(table["verdict"]) == {"accuracy_gap_points", "weight_memory_ratio", "bnn_within_5_points",
                                     "bnn_8x_less_weight_memory"}
    for r in results:
        f = r.figures
        assert f["c_equals_reference"] and f["m4_outputs_match_reference"]
        assert f["weight_bytes"] > 0 and f["sram_bytes"] > 0 and f["m4_ms"] > 0 and f["host_us"] > 0
        assert 0.0 <= f["compiled_c_accuracy"] <= 1.0
    # the BNN's bitpacked path is really used: binary max pool between binary convolutions
    assert "LceBMaxPool2d" in results[1].figures["ops"]
    md = (report / "table.md").read_text()
    assert "| int8 CNN |" in md and "| BNN |" in md and "memory_bnn.png" in md
