"""print_plan: an ASCII picture of a memory plan, in the style of TFLM's PrintMemoryPlan.

One row per op; the columns are the arena's bytes scaled to ``width`` characters; each buffer
alive during the op is drawn with its letter (0-9, a-z, A-Z, then '*'), '.' is free, and '!'
marks bytes claimed by two live buffers (never seen in a verified plan).
"""
from __future__ import annotations

from picoml.plan.memory_plan import MemoryPlan

_LETTERS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def letter(index: int) -> str:
    """The character that stands for buffer ``index`` in the chart."""
    return _LETTERS[index] if index < len(_LETTERS) else "*"


def short_name(name: str, limit: int = 40) -> str:
    """A display name: TFLite names often join several layer names with ';', so keep the
    first one, cut to ``limit`` characters, with '~' marking that something was dropped."""
    head = name.split(";")[0]
    if len(head) > limit:
        head = head[:limit - 1]
    return head if head == name else head + "~"


def print_plan(plan: MemoryPlan, width: int = 80) -> str:
    """The plan as text: a summary line, a buffer legend and one chart row per op."""
    lines = [
        f"arena {plan.arena_bytes} bytes ({plan.algorithm}, alignment {plan.alignment}), "
        f"{len(plan.buffers)} buffers, {len(plan.in_place)} in-place ops, {len(plan.views)} views"
    ]
    if plan.peak_op >= 0:
        lines.append(f"peak {plan.live_bytes[plan.peak_op]} live bytes at op #{plan.peak_op} "
                     f"{plan.op_types[plan.peak_op]}: {', '.join(short_name(n) for n in plan.peak_tensors)}")
    for k, b in enumerate(plan.buffers):
        extra = f" (+{', '.join(short_name(n) for n in b.tensors[1:])})" if len(b.tensors) > 1 else ""
        lines.append(f"  {letter(k)} {b.kind:<9} offset {b.offset:>8} size {b.size:>8} "
                     f"ops {b.first:>3}..{b.last:<3} {short_name(b.name)}{extra}")
    scale = max(plan.arena_bytes, 1)
    lines.append(f"{'op':>4} {'type':<18} |{'arena':-^{width}}| live bytes")
    for step, op in enumerate(plan.order):
        row = ["."] * width
        owner: list[int] = [-1] * width
        for k, b in enumerate(plan.buffers):
            if not b.alive_at(step):
                continue
            start = b.offset * width // scale
            end = max(b.end * width // scale, start + 1)
            for c in range(start, min(end, width)):
                j = owner[c]
                if j < 0:
                    row[c], owner[c] = letter(k), k
                elif plan.buffers[j].offset < b.end and b.offset < plan.buffers[j].end:
                    row[c] = "!"
        lines.append(f"{op:>4} {plan.op_types[op][:18]:<18} |{''.join(row)}| {plan.live_bytes[step]}")
    return "\n".join(lines)
