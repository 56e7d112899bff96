"""Emitters of the Cortex-M DSP kernels (``codegen/c/opt/arm``): the explicit table of ops that
have an optimised int8 kernel on cores with SMLAD (``PM_ARM_DSP``, see ``pm_arm.h``).

Each emitter returns None when its kernel does not apply (another dtype, grouped convolution,
a broadcast ADD, a requantization outside the DSP form...), and the op keeps its portable
kernel. Otherwise it declares the kernel's constants, prepared from the NumPy kernel's params
in the layouts the assembly-level loops want (weights interleaved per block of units and
zero-padded to groups of 4, one output-stage record per channel), and returns the call; the
code generator emits it next to the portable call under ``#if PM_ARM_DSP``.

The output stage everywhere is :func:`picoml.kernels.quant.arm_requant_constants` (the same
bits as the portable ``pm_requant_pre``, proven there and tested bit for bit).
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from picoml.codegen.emitter import OpContext
from picoml.codegen.ops.conv import MAX_INT8_DEPTH
from picoml.codegen.ops.depthwise_inplace import in_place
from picoml.codegen.registry import c_opt_op
from picoml.kernels.arm_scratch import (DEPTHWISE_DIRECT, DEPTHWISE_PAIRS, DEPTHWISE_PLANES, DEPTHWISE_RING_ROWS,
                                       arm_conv_groups, arm_conv_scratch, arm_depthwise_layout)
from picoml.kernels.quant import arm_requant_constants, multiply_by_quantized_multiplier

CHANNEL_WORDS = 5  # PM_ARM_CHANNEL_WORDS: bias, multiplier, round_lo, round_hi, shift


def channel_table(ctx: OpContext, bias: np.ndarray, block: int) -> Optional[tuple[str, int]]:
    """The per-channel output-stage records (``bias`` first), padded with zero records to a
    multiple of ``block`` channels, and the output offset the kernel adds after them; None
    when a channel's requantization has no DSP form."""
    p = ctx.params
    c = arm_requant_constants(p["multiplier"], p["shift"], p["output_zero_point"])
    if c is None:
        return None
    rows = np.stack([np.asarray(bias, np.int64), c["multiplier"], c["round_lo"], c["round_hi"], c["shift"]], 1)
    pad = -len(rows) % block
    rows = np.concatenate([rows, np.zeros((pad, CHANNEL_WORDS), np.int64)])
    return ctx.const(rows.astype(np.int32), "int32_t", "arm_channels"), int(c["offset"])


def window(ctx: OpContext) -> dict[str, int]:
    """``pm_arm_window`` fields of a conv-like op (input 0, weights 1 as [*, KH, KW, *])."""
    p = ctx.params
    x, w, y = ctx.tensor(0), ctx.tensor(1), ctx.tensor(0, output=True)
    return {"batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "in_c": x.shape[3],
            "out_h": y.shape[1], "out_w": y.shape[2], "out_c": y.shape[3],
            "kernel_h": w.shape[1], "kernel_w": w.shape[2], "stride_h": p["stride_h"], "stride_w": p["stride_w"],
            "dilation_h": p.get("dilation_h", 1), "dilation_w": p.get("dilation_w", 1),
            "pad_h": p["pad_h"], "pad_w": p["pad_w"]}


def braced(fields: dict[str, Any]) -> str:
    """A designated initializer of int fields, for a nested struct such as ``pm_arm_window``."""
    return "{" + ", ".join(f".{k} = {int(v)}" for k, v in fields.items()) + "}"


def interleaved_rows(rows: np.ndarray, block: int) -> np.ndarray:
    """Weight rows [units][K] as [units/block][K/4][block][4]: each row zero-padded to a
    multiple of 4 bytes, the units to a multiple of ``block`` (zero rows), and the rows of a
    block interleaved group by group, so a block's kernel reads one stream."""
    units, depth = rows.shape
    groups = arm_conv_groups(depth)
    padded = np.zeros((units + (-units % block), 4 * groups), np.int8)
    padded[:units, :depth] = rows
    return np.ascontiguousarray(padded.reshape(-1, block, groups, 4).transpose(0, 2, 1, 3))


def unit_pairs(rows: np.ndarray) -> np.ndarray:
    """Weight rows [units][K] in the CONV_2D kernel's 2-unit layout (pm_conv_arm.h): rows
    zero-padded to whole groups of 4 and the units to an even count, then per unit pair and
    group two words, the even taps (u0 k0, u1 k0, u0 k2, u1 k2) and the odd taps (u0 k1, u1 k1,
    u0 k3, u1 k3): SXTB16 and SXTB16 ROR #8 of a word give the two units' int16 tap pairs in
    the lanes of the widened pixels' even (odd) words."""
    blocks = interleaved_rows(rows, 2)  # [pairs][groups][unit][tap]
    return np.ascontiguousarray(blocks.reshape(blocks.shape[:2] + (2, 2, 2)).transpose(0, 1, 4, 3, 2))


def _int8_ready(ctx: OpContext) -> bool:
    """int8 op with constant weights and bias (the folded bias exists)."""
    return ctx.params.get("kind") == "int8" and "folded_bias" in ctx.params and ctx.tensor(1).is_const


def _conv_call(ctx: OpContext, weights: np.ndarray, win: dict[str, int]) -> Optional[str]:
    """``pm_conv_s8_arm`` for OHWI ``weights`` (one group) and window ``win``."""
    p = ctx.params
    depth = int(np.prod(weights.shape[1:]))
    groups = arm_conv_groups(depth)
    if depth > MAX_INT8_DEPTH or int(p.get("scratch_bytes", 0)) < arm_conv_scratch(depth):
        return None
    stage = channel_table(ctx, p["folded_bias"], 2)
    if stage is None:
        return None
    ctx.use("arm", "conv_arm")
    w = ctx.const(unit_pairs(np.asarray(weights, np.int8).reshape(len(weights), depth)), "int8_t", "w_arm")
    params = ctx.struct("pm_conv_s8_arm_params", {
        "w": braced(win), "depth": depth, "groups4": groups, "input_zero_point": p["input_zero_point"],
        "output_offset": stage[1], "act_min": p["act_min"], "act_max": p["act_max"], "channels": stage[0]},
        "conv_arm")
    scratch = ctx.scratch() if arm_conv_scratch(depth) else "NULL"
    return f"pm_conv_s8_arm({params}, {ctx.input(0, 'int8_t')}, {w}, {ctx.output(0, 'int8_t')}, {scratch});"


@c_opt_op("arm", "CONV_2D")
def conv2d(ctx: OpContext) -> Optional[str]:
    """int8 CONV_2D without groups: im2col pixel pairs times 2-unit weight blocks (SMLAD)."""
    if not _int8_ready(ctx) or ctx.params["groups"] != 1:
        return None
    return _conv_call(ctx, np.asarray(ctx.tensor(1).data), window(ctx))


@c_opt_op("arm", "FULLY_CONNECTED")
def fully_connected(ctx: OpContext) -> Optional[str]:
    """int8 FULLY_CONNECTED: four units per pass over each input row (SMLAD)."""
    if not _int8_ready(ctx):
        return None
    p = ctx.params
    w = np.asarray(ctx.tensor(1).data, np.int8)
    units, depth = w.shape
    if depth > MAX_INT8_DEPTH:
        return None
    stage = channel_table(ctx, p["folded_bias"], 4)
    if stage is None:
        return None
    ctx.use("arm", "conv_arm")
    weights = ctx.const(interleaved_rows(w, 4), "int8_t", "w_arm")
    params = ctx.struct("pm_fully_connected_s8_arm_params", {
        "rows": p["batches"], "depth": depth, "units": units, "groups4": arm_conv_groups(depth),
        "output_offset": stage[1], "act_min": p["act_min"], "act_max": p["act_max"], "channels": stage[0]},
        "fc_arm")
    return f"pm_fully_connected_s8_arm({params}, {ctx.input(0, 'int8_t')}, {weights}, {ctx.output(0, 'int8_t')});"


@c_opt_op("arm", "DEPTHWISE_CONV_2D")
def depthwise_conv2d(ctx: OpContext) -> Optional[str]:
    """int8 DEPTHWISE_CONV_2D: int16 planes, SMLAD on neighbouring taps. One input channel with
    a kernel other than 3x3 runs as the CONV_2D it equals (like the portable kernel)."""
    if not _int8_ready(ctx) or in_place(ctx):  # in-place ops: the portable pm_depthwise_inplace_s8
        return None
    p = ctx.params
    w = np.asarray(ctx.tensor(1).data, np.int8)  # [1, KH, KW, C*M]
    win = window(ctx)
    if p["as_conv"]:
        return _conv_call(ctx, w[0].transpose(2, 0, 1)[..., None], dict(win, in_c=1))
    kh, kw = w.shape[1], w.shape[2]
    layout = arm_depthwise_layout(win["in_c"], p["depth_multiplier"], win["out_h"], win["out_w"], (kh, kw),
                                  (win["stride_h"], win["stride_w"]), (win["dilation_h"], win["dilation_w"]))
    kind = layout["kernel"]
    if (kh * kw > MAX_INT8_DEPTH or int(p.get("scratch_bytes", 0)) < layout["scratch_bytes"]
            or (kind == DEPTHWISE_PLANES and kh > DEPTHWISE_RING_ROWS)
            or (kind == DEPTHWISE_PAIRS and win["pad_w"] + win["in_w"] > layout["row_len"])):
        return None
    stage = channel_table(ctx, p["folded_bias"], 1)
    if stage is None:
        return None
    ctx.use("arm", "depthwise_arm")
    if kind == DEPTHWISE_PAIRS:  # the int32 stream of pm_depthwise_arm.h, passed as bytes
        stream = ctx.const(pair_stream(w[0], p["folded_bias"], win["stride_w"]), "int32_t", "w_arm")
        weights = f"(const int8_t *){stream}"
    else:  # planes read each channel's taps together; the NHWC kernel reads the portable [KH][KW][C]
        weights = ctx.const(np.ascontiguousarray(w[0] if kind == DEPTHWISE_DIRECT else w[0].transpose(2, 0, 1)),
                            "int8_t", "w_arm")
    params = ctx.struct("pm_depthwise_conv_s8_arm_params", {
        "w": braced(win), "depth_multiplier": p["depth_multiplier"], "input_zero_point": p["input_zero_point"],
        "output_offset": stage[1], "act_min": p["act_min"], "act_max": p["act_max"], "kernel": kind,
        "group": layout["group"],
        "band": layout["band"], "row_len": layout["row_len"], "channels": stage[0]}, "depthwise_arm")
    return (f"pm_depthwise_conv_s8_arm({params}, {ctx.input(0, 'int8_t')}, {weights}, {ctx.output(0, 'int8_t')}, "
            f"{ctx.scratch()});")


def pair_stream(w: np.ndarray, bias: np.ndarray, stride_w: int) -> np.ndarray:
    """The pairs kernel's int32 weight stream (pm_depthwise_arm.h) from [3][3][C] weights and
    the folded biases: per channel pair the two biases, then per kernel row the packed int16
    pairs in the order its stride's assembly loads them."""
    w = np.asarray(w, np.int64)

    def pack(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:  # two int16 lanes in an int32
        return ((lo & 0xFFFF) | ((hi & 0xFFFF) << 16)).astype(np.uint32).view(np.int32).astype(np.int64)

    c0, c1 = slice(0, None, 2), slice(1, None, 2)
    cols = [np.asarray(bias, np.int64)[c0], np.asarray(bias, np.int64)[c1]]
    for f in range(3):
        p0, p1 = pack(w[f, 0, c0], w[f, 1, c0]), pack(w[f, 0, c1], w[f, 1, c1])
        k2 = pack(w[f, 2, c0], w[f, 2, c1])
        cols += [p0, p1, k2] if stride_w == 1 else [p0, k2, p1, k2]
    return np.stack(cols, 1).astype(np.int32).ravel()


MAX_POOL_TAPS = 256  # pm_pool_arm.h: a halfword lane holds the sum of at most 256 int8 taps


@c_opt_op("arm", "AVERAGE_POOL_2D")
def average_pool(ctx: OpContext) -> Optional[str]:
    """int8 AVERAGE_POOL_2D: four channels per SXTAB16 pair, windows of up to 256 taps."""
    p = ctx.params
    (fh, fw), (sh, sw), (ph, pw), (oh, ow) = p["filter"], p["stride"], p["pad"], p["out_hw"]
    if p["dtype"] != "int8" or fh * fw > MAX_POOL_TAPS:
        return None
    n, h, w, c = ctx.tensor(0).shape
    win = {"batches": n, "in_h": h, "in_w": w, "in_c": c, "out_h": oh, "out_w": ow, "out_c": c, "kernel_h": fh,
           "kernel_w": fw, "stride_h": sh, "stride_w": sw, "dilation_h": 1, "dilation_w": 1, "pad_h": ph, "pad_w": pw}
    ctx.use("arm", "pool_arm")
    lo, hi = p["act"]
    params = ctx.struct("pm_average_pool_s8_arm_params", {"w": braced(win), "act_min": int(lo), "act_max": int(hi)},
                        "pool_arm")
    return f"pm_average_pool_s8_arm({params}, {ctx.input(0, 'int8_t')}, {ctx.output(0, 'int8_t')});"


@c_opt_op("arm", "ADD", "SUB")
def add_sub(ctx: OpContext) -> Optional[str]:
    """int8 ADD and SUB of same-shape inputs: each input's rescaling is a 256-entry table (SUB
    negates the second), then one DSP output stage per element."""
    p = ctx.params
    y = ctx.tensor(0, output=True)
    if p["dtype"] != "int8" or any(tuple(ctx.tensor(i).shape) != tuple(y.shape) for i in (0, 1)):
        return None
    c = arm_requant_constants(p["output_multiplier"], p["output_shift"], p["output_offset"])
    if c is None:
        return None
    x = np.arange(256, dtype=np.int64).astype(np.uint8).view(np.int8).astype(np.int64)  # by unsigned byte

    def table(k: int) -> np.ndarray:
        scaled = multiply_by_quantized_multiplier((x + p[f"input{k}_offset"]) << p["left_shift"],
                                                  p[f"input{k}_multiplier"], p[f"input{k}_shift"])
        return scaled if k == 1 or ctx.op.type == "ADD" else -scaled

    ctx.use("arm", "elementwise_arm")
    record = np.array([0, c["multiplier"][0], c["round_lo"][0], c["round_hi"][0], c["shift"][0]], np.int32)
    params = ctx.struct("pm_add_s8_arm_params", {
        "size": y.size, "input1": ctx.const(table(1).astype(np.int32), "int32_t", "add_table"),
        "input2": ctx.const(table(2).astype(np.int32), "int32_t", "add_table"),
        "output": ctx.const(record, "int32_t", "arm_channels"), "output_offset": int(c["offset"]),
        "act_min": p["act_min"], "act_max": p["act_max"]},
        "add_arm")
    return f"pm_add_s8_arm({params}, {ctx.input(0, 'int8_t')}, {ctx.input(1, 'int8_t')}, {ctx.output(0, 'int8_t')});"
