"""Scratch bytes of the Cortex-M DSP kernels (``codegen/c/opt/arm``).

A generated project runs either the portable kernel of an op or its DSP twin, chosen when the
C is compiled, so the op's ``scratch_bytes`` (what the planner reserves) is the larger of the
two needs. The numbers mirror the ``PM_ARM_*`` macros of ``pm_conv_arm.h``.
"""
from __future__ import annotations

ARM_STACK_GROUPS = 8  # PM_ARM_STACK_GROUPS: smaller im2col buffers live on the stack


def arm_conv_groups(depth: int) -> int:
    """Groups of 4 int8 values in a weight row of ``depth`` values (zero-padded)."""
    return (depth + 3) // 4


def arm_conv_scratch(depth: int) -> int:
    """``pm_conv_s8_arm``: a widened pixel quad (32 bytes per group) and an int8 patch (4 per
    group), unless they fit the stack buffer (PM_ARM_CONV_SCRATCH)."""
    groups = arm_conv_groups(depth)
    return 0 if groups <= ARM_STACK_GROUPS else 36 * groups


DEPTHWISE_PLANE_BUDGET = 4096  # bytes of widened rows a band of pm_depthwise_conv_s8_arm may hold
DEPTHWISE_DIRECT_PIXELS = 64   # output pixels up to which the NHWC kernel beats widening planes,
DEPTHWISE_DIRECT_WIDTH = 8     # or output widths (measured on person_detect and the MLPerf KWS)
DEPTHWISE_DIRECT_TAPS = 25     # PM_ARM_DIRECT_TAPS
DEPTHWISE_RING_ROWS = 64       # PM_ARM_RING_ROWS: band * kernel_h


DEPTHWISE_PLANES, DEPTHWISE_DIRECT, DEPTHWISE_PAIRS = 0, 1, 2  # PM_ARM_DW_*


def depthwise_pairs_apply(in_c: int, multiplier: int, kernel: tuple[int, int], stride: tuple[int, int],
                          dilation: tuple[int, int]) -> bool:
    """Whether the channel-pair kernel runs the op: 3x3, depth multiplier 1, whole groups of
    four channels, stride_w 1 or 2 without column dilation (any stride_h and dilation_h)."""
    return (kernel == (3, 3) and multiplier == 1 and in_c % 4 == 0 and stride[1] in (1, 2)
            and dilation[1] == 1)


DEPTHWISE_PAIRS_MIN_WIDTH = 4    # narrower outputs: the per-channel output stage dominates (NHWC wins)
DEPTHWISE_PAIRS_MAX_WIDTH_S1 = 16  # wider stride-1 outputs: the int16 planes win (measured, person_detect)
DEPTHWISE_PAIRS_BUDGET = 8192  # bytes of int8 channel-pair rows a band of the pairs kernel may hold


def arm_depthwise_layout(in_c: int, multiplier: int, out_h: int, out_w: int, kernel: tuple[int, int],
                         stride: tuple[int, int], dilation: tuple[int, int]) -> dict[str, int]:
    """How ``pm_depthwise_conv_s8_arm`` runs an op, and its scratch bytes. 3x3 kernels with depth
    multiplier 1 and whole groups of four channels run ``pairs`` (outputs at least
    DEPTHWISE_PAIRS_MIN_WIDTH wide, stride-1 ones narrower than DEPTHWISE_PAIRS_MAX_WIDTH_S1):
    bands of ``band`` output rows (one for odd widths, else as many as keep the input rows they
    read within DEPTHWISE_PAIRS_BUDGET bytes) read channel-pair int8 rows of ``row_len``
    columns, then int32 sums: a row of every channel, or a band of one channel pair (column
    counts rounded up to even). Other small or narrow images with depth multiplier 1 and whole groups of four channels
    run ``direct`` (NHWC; the scratch is a row of zero points). Otherwise planes: input channels
    widened together (``group``), output rows per band (as many as fit DEPTHWISE_PLANE_BUDGET
    bytes, at least one), int16 values per widened row (``row_len``: the padded width plus
    eight, even); the scratch holds the planes, then the band's int32 sums."""
    group = 4 if in_c % 4 == 0 else 1
    if (depthwise_pairs_apply(in_c, multiplier, kernel, stride, dilation) and out_w >= DEPTHWISE_PAIRS_MIN_WIDTH
            and (stride[1] == 2 or out_w < DEPTHWISE_PAIRS_MAX_WIDTH_S1)):
        steps = (out_w + 1) // 2
        columns = 2 * steps * stride[1] + 2  # covers the padded input too (see pm_depthwise_arm.c)

        def rows_bytes(band: int) -> int:  # the input rows a band of output rows reads
            return ((band - 1) * stride[0] + 2 * dilation[0] + 1) * in_c * columns

        band = 1  # even widths: several output rows per call (their sums are one run of pairs)
        while out_w % 2 == 0 and band < out_h and rows_bytes(band + 1) <= DEPTHWISE_PAIRS_BUDGET:
            band += 1
        return {"kernel": DEPTHWISE_PAIRS, "group": group, "band": band, "row_len": columns,
                "scratch_bytes": rows_bytes(band) + 4 * max(2 * steps * in_c, 4 * steps * band)}
    width = (out_w - 1) * stride[1] + (kernel[1] - 1) * dilation[1] + 1
    row_len = width + 8 + (width % 2)  # the 3x3 loops read up to 7 values past the width
    span = (kernel[0] - 1) * dilation[0] + 1
    direct = (multiplier == 1 and in_c % 4 == 0 and kernel[0] * kernel[1] <= DEPTHWISE_DIRECT_TAPS
              and (out_h * out_w <= DEPTHWISE_DIRECT_PIXELS or out_w <= DEPTHWISE_DIRECT_WIDTH))
    if direct:
        return {"kernel": DEPTHWISE_DIRECT, "group": group, "band": 1, "row_len": row_len, "scratch_bytes": in_c}

    def plane_bytes(band: int) -> int:
        return group * ((band - 1) * stride[0] + span) * row_len * 2

    band = 1
    while (band < out_h and plane_bytes(band + 1) <= DEPTHWISE_PLANE_BUDGET
           and (band + 1) * kernel[0] <= DEPTHWISE_RING_ROWS):
        band += 1
    return {"kernel": DEPTHWISE_PLANES, "group": group, "band": band, "row_len": row_len,
            "scratch_bytes": plane_bytes(band) + 4 * (band * out_w + 3)}
