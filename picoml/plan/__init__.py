"""Memory planning: one static arena for all activations, scratch and state of a graph.

    plan = plan_graph(graph)            # lifetimes -> views/in-place -> offsets -> verified
    print(print_plan(plan))             # ASCII chart, one row per op
    plot_plan(plan, graph, "plan.png")  # memory timeline and arena layout

Stages, one module each: ``lifetimes`` (when each tensor is alive), ``aliasing`` (views and
in-place ops share bytes), ``allocators`` (offsets; the ``ALGORITHMS`` registry), ``verify``
(an independent overlap check run on every plan), ``chart`` and ``plot`` (pictures).
``scratch_fit`` decides which ops run their kernels' zero-scratch variant so that kernel scratch
never raises the arena (``fitted_scratch`` gives the ``scratch`` argument generated C plans with).
Optional passes: ``schedule`` (reorder ops for the smallest peak) and ``patches`` (run the first
ops tile by tile, MCUNetV2; import ``picoml.plan.patches`` directly, it needs the kernels).
"""
from picoml.plan.aliasing import IN_PLACE_OPS, VIEW_OPS
from picoml.plan.allocators import ALGORITHMS, Request, peak_live_bytes
from picoml.plan.chart import print_plan
from picoml.plan.lifetimes import Lifetime, tensor_lifetimes
from picoml.plan.memory_plan import Buffer, MemoryPlan
from picoml.plan.planner import PlanError, plan_graph, scratch_from_params
from picoml.plan.plot import plot_plan
from picoml.plan.scratch_fit import ScratchChoice, fit_scratch, fitted_scratch
from picoml.plan.schedule import Schedule, schedule_report  # not `schedule`: it would hide the module
from picoml.plan.verify import check_no_overlap

__all__ = [
    "ALGORITHMS", "Buffer", "IN_PLACE_OPS", "Lifetime", "MemoryPlan", "PlanError", "Request", "Schedule",
    "ScratchChoice", "VIEW_OPS", "check_no_overlap", "fit_scratch", "fitted_scratch", "peak_live_bytes",
    "plan_graph", "plot_plan", "print_plan", "schedule_report", "scratch_from_params", "tensor_lifetimes",
]
