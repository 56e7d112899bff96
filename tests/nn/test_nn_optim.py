"""Bop flips exactly when the gradient average crosses the threshold in the weight's direction;
Bop + Adam in one step; weight clipping; the flip-ratio metric."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from picoml.nn.constraints import WeightClip, apply_constraints, constrain_after_step  # noqa: E402
from picoml.nn.constraints import get as get_constraint  # noqa: E402
from picoml.nn.layers import QuantConv2d, QuantLinear  # noqa: E402
from picoml.nn.metrics import FlipRatio, binary_kernel_signs, flip_ratio  # noqa: E402
from picoml.nn.optim import Bop, CaseOptimizer, binary_parameters, bop_and_adam  # noqa: E402
from picoml.nn.quantizers import NoOp  # noqa: E402

torch.set_num_threads(1)


def _step(opt, p, grad):
    p.grad = torch.tensor(grad, dtype=torch.float32)
    opt.step()


def test_bop_flips_exactly_when_it_should():
    w = nn.Parameter(torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]))
    opt = Bop([w], threshold=0.5, gamma=1.0)  # gamma 1: m is the last gradient
    #        w*m:  0.6   0.6   0.4  -0.6  -0.6   0.4  0.5(tie) 0.5(tie)
    _step(opt, w, [0.6, -0.6, 0.4, 0.6, -0.6, -0.4, 0.5, -0.5])
    assert w.tolist() == [-1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]
    assert opt.last_flips == 2 and opt.last_flip_ratio == 2 / 8
    # the same gradient again does not flip back: w now points against it
    _step(opt, w, [0.6, -0.6, 0.4, 0.6, -0.6, -0.4, 0.5, -0.5])
    assert w.tolist() == [-1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0] and opt.last_flips == 0


def test_bop_matches_numpy_simulation():
    rng = np.random.default_rng(0)
    gamma, threshold = np.float32(0.3), np.float32(0.2)
    w_np = np.where(rng.standard_normal(500) >= 0, 1.0, -1.0).astype(np.float32)
    m_np = np.zeros_like(w_np)
    w = nn.Parameter(torch.tensor(w_np))
    opt = Bop([w], threshold=float(threshold), gamma=float(gamma))
    total_flips = 0
    for _ in range(12):
        g = (rng.standard_normal(500) * 0.5 + 0.1).astype(np.float32)
        m_np = m_np + gamma * (g - m_np)
        flip = w_np * m_np > threshold  # flip iff |m| > tau and sign(m) == sign(w)
        assert (flip == ((np.abs(m_np) > threshold) & (np.sign(m_np) == w_np))).all()
        w_np = np.where(flip, -w_np, w_np)
        _step(opt, w, g)
        assert opt.last_flips == int(flip.sum())
        total_flips += int(flip.sum())
        np.testing.assert_array_equal(w.detach().numpy(), w_np)
        np.testing.assert_allclose(opt.state[w]["m"].numpy(), m_np, rtol=1e-6)
    assert total_flips > 10


def test_bop_binarizes_latent_weights_and_skips_missing_grads():
    w = nn.Parameter(torch.tensor([0.3, -0.2, 0.0, -0.0]))
    unused = nn.Parameter(torch.tensor([0.5]))
    opt = Bop([w, unused], threshold=1.0)
    _step(opt, w, [0.0, 0.0, 0.0, 0.0])
    assert w.tolist() == [1.0, -1.0, 1.0, 1.0] and unused.item() == 0.5
    with pytest.raises(ValueError):
        Bop([w], gamma=0.0)
    with pytest.raises(ValueError):
        Bop([w], threshold=-1.0)


def _bnn():
    torch.manual_seed(0)
    return nn.Sequential(
        QuantConv2d(3, 8, 3, padding="same"), nn.BatchNorm2d(8),
        QuantConv2d(8, 8, 3, padding="same", input_quantizer="ste_sign", kernel_quantizer="ste_sign",
                    kernel_constraint="weight_clip", pad_value=1.0, bias=False), nn.BatchNorm2d(8),
        QuantConv2d(8, 8, 1, input_quantizer="ste_sign", kernel_quantizer=NoOp(bits=1), bias=False),
        nn.Flatten(), QuantLinear(8 * 4 * 4, 3))


def test_bop_and_adam_split_and_step():
    model = _bnn()
    opt = bop_and_adam(model, threshold=1e-7, gamma=0.5, lr=0.01)
    bop, adam = opt.optimizers
    assert isinstance(bop, Bop) and isinstance(adam, torch.optim.Adam)
    binary = binary_parameters(model)
    assert [p.shape for p in binary] == [(8, 8, 3, 3), (8, 8, 1, 1)]
    assert {id(p) for p in bop.param_groups[0]["params"]} == {id(p) for p in binary}
    assert len(adam.param_groups[0]["params"]) == len(list(model.parameters())) - 2
    first_float = model[0].weight.detach().clone()
    rng = torch.Generator().manual_seed(1)
    flipped = FlipRatio(model)
    flipped.update()
    for _ in range(3):
        x, y = torch.randn(4, 3, 4, 4, generator=rng), torch.randint(0, 3, (4,), generator=rng)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        assert flipped.update() == pytest.approx(bop.last_flip_ratio)
        for p in binary:
            assert set(p.detach().unique().tolist()) <= {-1.0, 1.0}
    assert not torch.equal(model[0].weight, first_float)  # Adam trained the float layer
    assert flipped.result() > 0


def test_case_optimizer_rejects_shared_parameters_and_round_trips_state():
    p1, p2 = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match="more than one"):
        CaseOptimizer(Bop([p1]), torch.optim.Adam([p1, p2]))
    with pytest.raises(TypeError):
        CaseOptimizer(object())
    opt = CaseOptimizer(Bop([p1], gamma=0.5), torch.optim.SGD([p2], lr=0.1))
    p1.grad, p2.grad = torch.tensor([0.2, -0.2]), torch.tensor([1.0, 1.0])
    opt.step()
    state = opt.state_dict()
    other = CaseOptimizer(Bop([p1], gamma=0.5), torch.optim.SGD([p2], lr=0.1))
    other.load_state_dict(state)
    assert torch.equal(other.optimizers[0].state[p1]["m"], opt.optimizers[0].state[p1]["m"])
    opt.zero_grad()
    assert p1.grad is None and p2.grad is None
    with pytest.raises(ValueError, match="no binary kernels"):
        bop_and_adam(nn.Linear(2, 2))


def test_weight_clip_after_steps():
    layer = QuantLinear(4, 2, kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
    other = QuantLinear(2, 2, kernel_quantizer="ste_sign", kernel_constraint=WeightClip(0.25))
    model = nn.Sequential(layer, other)
    opt = torch.optim.SGD(model.parameters(), lr=100.0)
    handle = constrain_after_step(opt, model)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    assert layer.weight.abs().max() <= 1.0 and other.weight.abs().max() <= 0.25
    assert layer.bias.abs().max() > 1.0  # only kernels are constrained
    handle.remove()
    with torch.no_grad():
        layer.weight.mul_(10)
    apply_constraints(model)
    assert layer.weight.abs().max() <= 1.0
    assert get_constraint({"class_name": "weight_clip", "config": {"clip_value": 0.5}}).clip_value == 0.5
    with pytest.raises(ValueError):
        WeightClip(0.0)
    with pytest.raises(ValueError):
        get_constraint("max_norm")


def test_flip_ratio_metric():
    m = FlipRatio()
    assert m.update(torch.tensor([1.0, 1.0, 1.0, 1.0])) is None  # baseline
    assert m.update(torch.tensor([-1.0, 1.0, 1.0, 1.0])) == 0.25
    assert m.update(torch.tensor([-1.0, -1.0, 0.0, 1.0])) == 0.25  # 0 counts as +1
    assert m.update([torch.tensor([1.0, -1.0]), torch.tensor([1.0, 1.0])]) == 0.25
    assert m.result() == 0.25
    m.reset()
    assert m.result() == 0.0 and m.update(torch.tensor([1.0, -1.0, 1.0, 1.0])) == 0.0
    assert flip_ratio(torch.tensor([1.0, -1.0]), torch.tensor([-1.0, -1.0])) == 0.5
    with pytest.raises(ValueError):
        flip_ratio(torch.ones(2), torch.ones(3))
    model = _bnn()
    assert binary_kernel_signs(model).numel() == 8 * 8 * 9 + 8 * 8
