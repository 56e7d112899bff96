"""The generated C project: layout, API, warnings-clean builds, sanitizers, limits, atomic writes."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import picoml
from picoml.cli import main as cli
from picoml.codegen import generate
from picoml.errors import PicomlError, ResourceError
from picoml.interpreter import Interpreter
from picoml.testing.opmodel import random_input
from tests.conftest import require_c_kernels

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]


def hello(real):
    g = picoml.load_tflite(real / "tflm/hello_world/hello_world_int8.tflite")
    require_c_kernels(g)
    return g


def test_project_layout_and_api(real, tmp_path):
    project = generate(hello(real))
    out = project.write(tmp_path / "proj")
    names = set(os.listdir(out))
    assert {"model.c", "model.h", "main.c", "Makefile", "CMakeLists.txt", "requant.h"} <= names
    header = (out / "model.h").read_text()
    for decl in ("void model_init(void);", "void *model_input(int index);", "void model_invoke(void);",
                 "const void *model_output(int index);", "#define MODEL_ARENA_BYTES", "#define MODEL_INPUT_0_BYTES"):
        assert decl in header
    source = (out / "model.c").read_text()
    assert "malloc" not in source and "static const int8_t" in source
    assert f"uint8_t bytes[{project.arena_bytes}]" in source


def _build_and_run_main(out, cc, flags, inputs):
    exe = out / "model_main"
    srcs = sorted(str(p) for p in out.glob("*.c"))
    r = subprocess.run([cc, *flags, "-o", str(exe), *srcs, "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    inp, outp = out / "in.bin", out / "out.bin"
    inp.write_bytes(b"".join(np.ascontiguousarray(x).tobytes() for x in inputs))
    r = subprocess.run([str(exe), str(inp), str(outp)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, r.stderr
    return outp.read_bytes()


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_strict_build_with_gcc_and_clang(real, tmp_path, cc):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed (.ci/run installs it)")
    g = hello(real)
    out = generate(g).write(tmp_path / "p")
    x = [np.array([[-63]], np.int8)]
    assert _build_and_run_main(out, cc, [*STRICT, "-O2"], x) == Interpreter(g).run(x)[0].tobytes()


def test_makefile_builds(real, tmp_path):
    out = generate(hello(real)).write(tmp_path / "p")
    r = subprocess.run(["make", "-s"], cwd=out, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "model_main").exists() and (out / "libmodel.a").exists()


def test_max_ram_refuses_with_numbers(real, tmp_path):
    g = picoml.load_tflite(real / "tflm/person_detection/person_detect.tflite")
    require_c_kernels(g)
    with pytest.raises(ResourceError, match="over"):
        generate(g, max_ram=1000)
    assert cli(["compile", str(real / "tflm/hello_world/hello_world_int8.tflite"), "-o", str(tmp_path / "x"),
                "--max-ram", "8"]) == 2
    assert not (tmp_path / "x").exists()


def test_refuses_to_overwrite_foreign_folder(real, tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    with pytest.raises(PicomlError, match="not written by picoml"):
        generate(hello(real)).write(d)
    assert (d / "notes.txt").read_text() == "keep me"
    generate(hello(real)).write(tmp_path / "again")
    generate(hello(real)).write(tmp_path / "again")  # a picoml folder may be regenerated


def test_compile_api_and_report(real, rng):
    hello(real)
    m = picoml.compile(real / "tflm/hello_world/hello_world_int8.tflite", target="host")
    assert m.run([np.array([[-96]], np.int8)])[0].tolist() == [[89]]
    rep = m.report()
    assert rep["target"] == "host" and rep["arena_bytes"] == 32 and rep["weight_bytes"] > 0
    with pytest.raises(PicomlError, match="unknown target"):
        picoml.compile(real / "tflm/hello_world/hello_world_int8.tflite", target="gpu")  # noqa


def test_int8_model_has_no_floating_point(real):
    """person_detect's project compiles with -mgeneral-regs-only: not one float instruction."""
    from picoml.targets.host import HostModel

    g = picoml.load_tflite(real / "tflm/person_detection/person_detect.tflite")
    require_c_kernels(g)
    project = generate(g)
    m = HostModel(g, project, extra_flags=["-mgeneral-regs-only"])
    x = np.zeros((1, 96, 96, 1), np.int8)
    assert_same_bits = m.run([x])[0].tobytes() == Interpreter(g).run([x])[0].tobytes()
    assert assert_same_bits
    assert "float" not in project.files["model.c"]


def test_plan_cli_json_and_plot(real, tmp_path, capsys):
    import json

    png = tmp_path / "plan.png"
    assert cli(["plan", str(real / "tflm/person_detection/person_detect.tflite"), "--json", "--plot", str(png)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["arena_bytes"] == 55296 and isinstance(plan["peak_op"], int)
    assert len(plan["ops"]) == 31 and {"type", "live_bytes"} <= set(plan["ops"][0])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli(["plan", str(real / "tflm/person_detection/person_detect.tflite")]) == 0
    assert "arena: 55,296 bytes" in capsys.readouterr().out


def test_cmake_builds_and_runs(real, tmp_path):
    if shutil.which("cmake") is None:
        pytest.skip("cmake is not installed")
    g = hello(real)
    src = generate(g).write(tmp_path / "p")
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", str(src), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror -pedantic"],
                ["cmake", "--build", str(build)]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    x = np.array([[-34]], np.int8)
    (tmp_path / "in.bin").write_bytes(x.tobytes())
    r = subprocess.run([str(build / "model_main"), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")])
    assert r.returncode == 0
    assert (tmp_path / "out.bin").read_bytes() == Interpreter(g).run([x])[0].tobytes()
