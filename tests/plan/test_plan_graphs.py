"""plan_graph on hand-built graphs: lifetimes, views, in-place, scratch, alignment, errors,
and the plan's outputs (JSON, ASCII chart, PNG)."""
from __future__ import annotations

import json

import pytest

from picoml.errors import GraphError, PicomlError
from picoml.ir import DType
from picoml.plan import PlanError, check_no_overlap, plan_graph, plot_plan, print_plan, tensor_lifetimes

I16 = DType.INT16


def spans(lifetimes):
    return {n: (lt.first, lt.last, lt.nbytes) for n, lt in lifetimes.items()}


def alive_pairs_disjoint(plan):
    """Every two tensors alive at the same op either share a buffer or do not share bytes."""
    home = {n: b.name for b in plan.buffers for n in b.tensors}
    lts = [lt for lt in plan.lifetimes.values() if lt.nbytes]
    for i, a in enumerate(lts):
        for b in lts[i + 1:]:
            if a.overlaps(b) and home[a.name] != home[b.name]:
                oa, ob = plan.offsets[a.name], plan.offsets[b.name]
                assert oa + a.nbytes <= ob or ob + b.nbytes <= oa, (a, b)


# -- lifetimes ------------------------------------------------------------------------------

def test_lifetimes_chain_inputs_outputs_constants_variables(make_graph):
    g = make_graph(
        {"in": (1, 8), "w": (8, 8), "a": (1, 8), "b": (1, 8), "early": (1, 3), "late_in": (1, 8),
         "state": ((1, 4), I16), "out": (1, 8), "unused": (1, 99)},
        [("FULLY_CONNECTED", ["in", "w", None], ["a"]),
         ("SVDF", ["a", "state"], ["b", "early"]),
         ("ADD", ["b", "late_in"], ["out"])],
        inputs=["in", "late_in"], outputs=["out", "early"], consts=["w"], variables=["state"])
    assert spans(tensor_lifetimes(g)) == {
        "in": (0, 0, 8), "a": (0, 1, 8), "b": (1, 2, 8), "early": (1, 2, 3),  # graph output: to the end
        "late_in": (0, 2, 8),  # graph input: from the start
        "state": (0, 2, 8),  # variable: the whole run
        "out": (2, 2, 8),
    }  # no constant "w", no unreferenced "unused"


def test_zero_byte_tensor_gets_offset_but_no_buffer(make_graph):
    g = make_graph({"x": (1, 4), "e": (0,), "y": (1, 4)}, [("CUSTOM_OP", ["x", "e"], ["y"])], ["x", "e"], ["y"])
    p = plan_graph(g)
    assert p.offsets["e"] == 0
    assert all("e" not in b.tensors for b in p.buffers)


def test_graph_without_ops(make_graph):
    g = make_graph({"x": (1, 4)}, [], ["x"], ["x"])
    p = plan_graph(g)
    assert p.arena_bytes == 16 and p.live_bytes == [] and p.peak_op == -1
    assert "arena 16 bytes" in print_plan(p)


# -- views ----------------------------------------------------------------------------------

def test_view_aliases_and_extends_base_lifetime(make_graph):
    g = make_graph({"in": (1, 8, 8, 1), "x": (1, 8, 8, 2), "v": (1, 128), "y": (1, 4), "z": (1, 4)},
                   [("CONV_2D", ["in"], ["x"]), ("RESHAPE", ["x"], ["v"]),
                    ("FULLY_CONNECTED", ["v"], ["y"]), ("SOFTMAX", ["y"], ["z"])], ["in"], ["z"])
    p = plan_graph(g)
    assert p.offsets["v"] == p.offsets["x"]
    assert p.views == {1: ("x", "v")}
    (base,) = [b for b in p.buffers if "x" in b.tensors]
    assert base.kind == "view-base" and base.tensors == ("x", "v") and (base.first, base.last) == (0, 2)
    assert p.live_bytes == [64 + 128, 128, 128 + 16, 16 + 16]  # the RESHAPE costs no bytes
    alive_pairs_disjoint(p)


def test_chain_of_views(make_graph):
    g = make_graph({"in": (1, 6), "x": (1, 6), "a": (6,), "b": (1, 1, 6), "c": (1, 6), "out": (1, 6)},
                   [("LOGISTIC", ["in"], ["x"]), ("SQUEEZE", ["x"], ["a"]), ("EXPAND_DIMS", ["a"], ["b"]),
                    ("RESHAPE", ["b"], ["c"]), ("SOFTMAX", ["c"], ["out"])], ["in"], ["out"])
    p = plan_graph(g, in_place=False)
    assert p.offsets["x"] == p.offsets["a"] == p.offsets["b"] == p.offsets["c"]
    assert sorted(p.views) == [1, 2, 3]
    (base,) = [b for b in p.buffers if b.kind == "view-base"]
    assert base.tensors == ("x", "a", "b", "c") and (base.first, base.last) == (0, 4)


def test_view_of_graph_input_lives_from_start(make_graph):
    g = make_graph({"in": (1, 64), "v": (8, 8), "x": (8, 8), "y": (8, 8), "out": (8, 8)},
                   [("RESHAPE", ["in"], ["v"]), ("CONV_2D", ["v"], ["x"]), ("CONV_2D", ["x"], ["y"]),
                    ("CONV_2D", ["y", "v"], ["out"])], ["in"], ["out"])
    p = plan_graph(g)
    (base,) = [b for b in p.buffers if "in" in b.tensors]
    assert base.tensors == ("in", "v") and (base.first, base.last) == (0, 3)
    assert len({p.offsets[n] for n in ("in", "x", "y")}) == 3  # nothing reuses the input's bytes
    alive_pairs_disjoint(p)


def test_view_that_is_graph_output_lives_to_end(make_graph):
    g = make_graph({"in": (1, 16), "x": (1, 16), "v": (16,), "y": (1, 16), "z": (1, 16)},
                   [("CONV_2D", ["in"], ["x"]), ("RESHAPE", ["x"], ["v"]), ("CONV_2D", ["x"], ["y"]),
                    ("CONV_2D", ["y"], ["z"])], ["in"], ["v", "z"])
    p = plan_graph(g)
    (base,) = [b for b in p.buffers if "x" in b.tensors]
    assert (base.first, base.last) == (0, 3)
    assert p.offsets["y"] != p.offsets["x"] and p.offsets["z"] != p.offsets["x"]
    alive_pairs_disjoint(p)


def test_view_of_constant_or_variable_is_not_aliased(make_graph):
    g = make_graph({"c": (2, 8), "s": (2, 8), "vc": (16,), "vs": (16,), "x": (16,), "out": (16,)},
                   [("RESHAPE", ["c"], ["vc"]), ("RESHAPE", ["s"], ["vs"]), ("ADD", ["vc", "vs"], ["x"]),
                    ("SVDF", ["x", "s"], ["out"])], [], ["out"], consts=["c"], variables=["s"])
    p = plan_graph(g)
    assert p.views == {}
    assert "c" not in p.offsets and p.offsets["vs"] != p.offsets["s"]


# -- in place -------------------------------------------------------------------------------

def relu_graph(make_graph, op="RELU", x_dtype=DType.INT8, y_dtype=DType.INT8, x_used_later=False,
               x_is_output=False):
    tensors = {"in": (1, 32), "x": ((1, 32), x_dtype), "y": ((1, 32), y_dtype), "z": (1, 32)}
    ops = [("CONV_2D", ["in"], ["x"]), (op, ["x"], ["y"]),
           ("CONV_2D", ["y", "x"] if x_used_later else ["y"], ["z"])]
    return make_graph(tensors, ops, ["in"], ["z", "x"] if x_is_output else ["z"])


@pytest.mark.parametrize("op", ["RELU", "LEAKY_RELU", "LOGISTIC", "TANH", "RELU6", "HARD_SWISH"])
def test_in_place_unary(make_graph, op):
    p = plan_graph(relu_graph(make_graph, op))
    assert p.in_place == {1: ("x", "y")} and p.offsets["x"] == p.offsets["y"]
    (b,) = [b for b in p.buffers if "x" in b.tensors]
    assert b.tensors == ("x", "y") and (b.first, b.last) == (0, 2) and b.kind == "tensor"


@pytest.mark.parametrize("case", ["used_later", "graph_output", "softmax", "dequantize", "narrowing_quantize",
                                  "disabled"])
def test_in_place_refused(make_graph, case):
    kw = {"used_later": dict(x_used_later=True), "graph_output": dict(x_is_output=True),
          "softmax": dict(op="SOFTMAX"), "dequantize": dict(op="DEQUANTIZE", y_dtype=DType.FLOAT32),
          "narrowing_quantize": dict(op="QUANTIZE", x_dtype=I16), "disabled": {}}[case]
    p = plan_graph(relu_graph(make_graph, **kw), in_place=case != "disabled")
    assert p.in_place == {} and p.offsets["x"] != p.offsets["y"]
    alive_pairs_disjoint(p)


def test_in_place_requantize_same_width(make_graph):
    p = plan_graph(relu_graph(make_graph, op="QUANTIZE", x_dtype=I16, y_dtype=I16))
    assert p.in_place == {1: ("x", "y")}


def test_in_place_picks_the_operand_with_the_output_shape(make_graph):
    g = make_graph({"in": (4, 4), "row": (1, 4), "full": (4, 4), "y": (4, 4), "z": (4, 4)},
                   [("CONV_2D", ["in"], ["row"]), ("CONV_2D", ["in"], ["full"]), ("MUL", ["row", "full"], ["y"]),
                    ("CONV_2D", ["y"], ["z"])], ["in"], ["z"])
    p = plan_graph(g)
    assert p.in_place == {2: ("full", "y")}
    alive_pairs_disjoint(p)


def test_in_place_over_graph_input_and_same_operand_twice(make_graph):
    g = make_graph({"a": (1, 128), "b": (1, 128)}, [("ADD", ["a", "a"], ["b"])], ["a"], ["b"])
    p = plan_graph(g)
    assert p.in_place == {0: ("a", "b")}
    assert p.arena_bytes == 128  # one buffer instead of two


def test_in_place_on_view_only_when_base_is_dead(make_graph):
    def graph(base_used_later):
        tensors = {"in": (2, 8), "x": (2, 8), "v": (16,), "y": (16,), "z": (16,)}
        ops = [("CONV_2D", ["in"], ["x"]), ("RESHAPE", ["x"], ["v"]), ("RELU", ["v"], ["y"]),
               ("CONV_2D", ["y", "x"] if base_used_later else ["y"], ["z"])]
        return make_graph(tensors, ops, ["in"], ["z"])

    alive = plan_graph(graph(True))
    assert alive.in_place == {} and alive.offsets["y"] != alive.offsets["x"]
    alive_pairs_disjoint(alive)
    dead = plan_graph(graph(False))
    assert dead.in_place == {2: ("v", "y")}
    assert dead.offsets["x"] == dead.offsets["v"] == dead.offsets["y"]


def test_in_place_refused_when_other_operand_shares_the_bytes(make_graph):
    g = make_graph({"in": (1, 8), "x": (1, 8), "v": (8,), "y": (1, 8), "z": (1, 8)},
                   [("CONV_2D", ["in"], ["x"]), ("RESHAPE", ["x"], ["v"]), ("ADD", ["x", "v"], ["y"]),
                    ("CONV_2D", ["y"], ["z"])], ["in"], ["z"])
    assert plan_graph(g).in_place == {}


def test_in_place_refused_on_variable(make_graph):
    g = make_graph({"s": (1, 8), "y": (1, 8)}, [("RELU", ["s"], ["y"])], [], ["y"], variables=["s"])
    assert plan_graph(g).in_place == {}


# -- scratch, alignment, algorithms, errors -----------------------------------------------

def test_scratch_buffers_are_planned_only_during_their_op(make_graph):
    g = relu_graph(make_graph, op="SOFTMAX")
    p = plan_graph(g, scratch={0: 100, 2: 0})
    (s,) = [b for b in p.buffers if b.kind == "scratch"]
    assert (s.op, s.first, s.last, s.nbytes, s.size) == (0, 0, 0, 100, 112)
    assert p.scratch_offsets == {0: s.offset}
    for b in p.buffers:
        if b is not s and b.alive_at(0):
            assert b.end <= s.offset or s.end <= b.offset
    assert p.live_bytes[0] == 32 + 32 + 112
    assert "scratch@op0" in p.live_tensors(0) and "scratch@op0" not in p.live_tensors(1)


@pytest.mark.parametrize("alignment", [1, 4, 64])
def test_alignment_respected(make_graph, alignment):
    g = make_graph({"in": (1, 3), "a": (1, 5), "b": (1, 7), "c": (1, 9)},
                   [("CONV_2D", ["in"], ["a"]), ("CONV_2D", ["a", "in"], ["b"]), ("CONV_2D", ["b", "a"], ["c"])],
                   ["in"], ["c"])
    for algo in ("naive", "greedy", "best_fit"):
        p = plan_graph(g, alignment=alignment, algorithm=algo)
        assert all(b.offset % alignment == 0 and b.size % alignment == 0 for b in p.buffers)
        assert all(b.size == -(-b.nbytes // alignment) * alignment for b in p.buffers)
    assert plan_graph(g, alignment=1, algorithm="naive").arena_bytes == 3 + 5 + 7 + 9


@pytest.mark.parametrize("bad", [0, 3, -16, 24, 16.0, True, "16"])
def test_bad_alignment(make_graph, bad):
    with pytest.raises(PlanError, match="power of two"):
        plan_graph(relu_graph(make_graph), alignment=bad)


def test_bad_algorithm_and_scratch(make_graph):
    g = relu_graph(make_graph)
    with pytest.raises(PlanError, match="unknown planning algorithm 'tetris'.*naive, greedy, best_fit"):
        plan_graph(g, algorithm="tetris")
    with pytest.raises(PlanError, match="op 7"):
        plan_graph(g, scratch={7: 10})
    with pytest.raises(PlanError, match="byte count"):
        plan_graph(g, scratch={1: -1})
    assert issubclass(PlanError, PicomlError)


def test_inconsistent_graph_gives_graph_error(make_graph):
    g = relu_graph(make_graph)
    g.ops[1].inputs[0] = "missing"
    with pytest.raises(GraphError):
        plan_graph(g)


# -- outputs: JSON, chart, PNG ------------------------------------------------------------

def test_to_json(make_graph):
    p = plan_graph(relu_graph(make_graph), scratch={2: 40})
    j = json.loads(json.dumps(p.to_json()))
    assert j["arena_bytes"] == p.arena_bytes and j["alignment"] == 16 and j["algorithm"] == "best_fit"
    assert [o["index"] for o in j["ops"]] == [0, 1, 2]
    assert [o["type"] for o in j["ops"]] == ["CONV_2D", "RELU", "CONV_2D"]
    assert j["ops"][1]["in_place"] == ["x", "y"]
    assert j["ops"][2]["scratch_offset"] == p.scratch_offsets[2]
    assert j["peak_op"] == max(range(3), key=lambda k: (p.live_bytes[k], -k))
    assert j["ops"][j["peak_op"]]["live_tensors"] == p.peak_tensors
    assert {b["kind"] for b in j["buffers"]} == {"tensor", "scratch"}
    assert max(b["offset"] + b["size"] for b in j["buffers"]) == j["arena_bytes"]


def test_print_plan(make_graph):
    p = plan_graph(relu_graph(make_graph))
    text = print_plan(p)
    lines = text.splitlines()
    assert lines[0].startswith(f"arena {p.arena_bytes} bytes (best_fit, alignment 16)")
    rows = [ln for ln in lines if ln.count("|") == 2 and ln.split()[0].isdigit()]
    assert len(rows) == 3 and "RELU" in rows[1]
    assert all(len(r.split("|")[1]) == 80 for r in rows) and "!" not in text


def test_plot_plan_writes_png(make_graph, tmp_path):
    g = relu_graph(make_graph)
    p = plan_graph(g, scratch={0: 64})
    for layout in (True, False):
        out = tmp_path / f"plan_{layout}.png"
        plot_plan(p, g, out, layout=layout)
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_graph_runs_the_verifier(make_graph, monkeypatch):
    import picoml.plan.planner as planner

    def overlapping(requests, alignment):
        return [0] * len(requests)

    monkeypatch.setitem(planner.ALGORITHMS, "broken", overlapping)
    with pytest.raises(GraphError, match="overlap"):
        plan_graph(relu_graph(make_graph), algorithm="broken")
    check_no_overlap(plan_graph(relu_graph(make_graph)))


def test_scratch_from_params():
    from picoml.plan import scratch_from_params

    assert scratch_from_params([{"macs": 1}, {"scratch_bytes": 64}, {"scratch_bytes": 0}]) == {1: 64}
