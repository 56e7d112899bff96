"""plot_plan: a PNG of a memory plan (memory over time, and where each buffer sits).

Uses matplotlib's Agg canvas directly (no pyplot, no global backend switch), so it works on
headless machines and inside other programs.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Union

from picoml.ir import Graph
from picoml.plan.chart import short_name
from picoml.plan.memory_plan import Buffer, MemoryPlan

if TYPE_CHECKING:
    from matplotlib.patches import Rectangle

N_LABELS = 8  # how many of the biggest buffers get a legend entry


def plot_plan(plan: MemoryPlan, graph: Graph, path: Union[str, os.PathLike], layout: bool = True) -> None:
    """Write a PNG to ``path``: live bytes per op as bars stacked by buffer (the biggest
    buffers named in the legend) and, with ``layout``, each buffer as a rectangle of
    offset x ops in the arena."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_ops = len(plan.order)
    fig = Figure(figsize=(max(8.0, min(0.25 * n_ops, 24.0)) + 4.0, 8.0 if layout else 4.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(2 if layout else 1, 1, sharex=True, squeeze=False)[:, 0]
    palette = matplotlib.colormaps["tab20"].colors
    colors = [palette[k % len(palette)] for k in range(len(plan.buffers))]
    biggest = set(sorted(range(len(plan.buffers)), key=lambda k: -plan.buffers[k].size)[:N_LABELS])

    ax = axes[0]
    bottoms = [0] * n_ops
    for k, b in enumerate(plan.buffers):
        steps = [s for s in range(n_ops) if b.alive_at(s)]
        heights = [b.size] * len(steps)
        label = _label(b, graph) if k in biggest else None
        ax.bar(steps, heights, bottom=[bottoms[s] for s in steps], color=colors[k],
               edgecolor="white", linewidth=0.3, label=label)
        for s in steps:
            bottoms[s] += b.size
    ax.axhline(plan.arena_bytes, color="black", linestyle="--", linewidth=0.8)
    ax.set_ylabel("live bytes")
    ax.set_title(f"{graph.name}: arena {plan.arena_bytes} bytes ({plan.algorithm}), "
                 f"peak at op #{plan.peak_op}")
    if plan.buffers:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))

    if layout:
        ax = axes[1]
        for k, b in enumerate(plan.buffers):
            ax.add_patch(_rect(b, colors[k]))
            if k in biggest:
                ax.text((b.first + b.last) / 2, b.offset + b.size / 2, short_name(b.name, 20), fontsize=6,
                        ha="center", va="center", clip_on=True)
        ax.set_xlim(-0.5, max(n_ops, 1) - 0.5)
        ax.set_ylim(0, max(plan.arena_bytes, 1))
        ax.set_ylabel("arena offset (bytes)")
    axes[-1].set_xlabel("op index")
    if 0 < n_ops <= 40:
        axes[-1].set_xticks(range(n_ops))
        axes[-1].set_xticklabels([f"{i} {plan.op_types[i]}" for i in plan.order], rotation=90, fontsize=6)
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=100)


def _label(buffer: Buffer, graph: Graph) -> str:
    """Legend text: the buffer's tensor, its shape and its reserved bytes."""
    t = graph.tensors.get(buffer.name)
    shape = f" {list(t.shape)}" if t is not None else ""
    return f"{short_name(buffer.name, 28)}{shape} {buffer.size} B"


def _rect(buffer: Buffer, color: tuple) -> "Rectangle":
    """The buffer as a rectangle of ops x bytes."""
    from matplotlib.patches import Rectangle

    return Rectangle((buffer.first - 0.45, buffer.offset), buffer.last - buffer.first + 0.9, buffer.size,
                     facecolor=color, edgecolor="black", linewidth=0.3, alpha=0.85)
