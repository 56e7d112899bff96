"""Scale-out: two CPU processes (gloo) train a small binary model wrapped in DistributedDataParallel
with Bop + Adam on different data; the replicas' binary weights and latent weights stay identical."""
import os
import socket
import time

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

WORLD = 2
STEPS = 4


def _model() -> nn.Module:
    from picoml.nn.layers import QuantConv2d, QuantLinear

    return nn.Sequential(
        QuantConv2d(3, 8, 3, padding="same", bias=False), nn.BatchNorm2d(8),
        QuantConv2d(8, 16, 3, stride=2, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                    kernel_constraint="weight_clip", pad_value=1.0, bias=False), nn.BatchNorm2d(16),
        nn.Flatten(), QuantLinear(16 * 4 * 4, 4))


def _worker(rank: int, port: int, out_dir: str) -> None:
    from torch.nn.parallel import DistributedDataParallel

    from picoml.nn.metrics import binary_kernel_signs
    from picoml.nn.optim import bop_and_adam

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(1000 + rank)  # different initial weights: DDP must broadcast rank 0's
        model = _model()
        ddp = DistributedDataParallel(model)
        opt = bop_and_adam(ddp, threshold=1e-6, gamma=0.1, lr=1e-2)
        gen = torch.Generator().manual_seed(rank)  # different data on each replica
        flips = 0
        for _ in range(STEPS):
            x, y = torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 4, (4,), generator=gen)
            opt.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
            opt.step()
            flips += opt.optimizers[0].last_flips
        torch.save({"params": [p.detach().clone() for p in model.parameters()],
                    "signs": binary_kernel_signs(model), "binary": model[2].weight.detach().clone(),
                    "flips": flips},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_replicas_stay_identical(tmp_path):
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    ctx = mp.start_processes(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + 120
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail("distributed workers did not finish within 120 s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD))
    assert r0["flips"] > 0 and r0["flips"] == r1["flips"]
    assert torch.equal(r0["signs"], r1["signs"])
    for a, b in zip(r0["params"], r1["params"]):
        assert torch.equal(a, b)
    assert set(r0["binary"].unique().tolist()) == {-1.0, 1.0}
