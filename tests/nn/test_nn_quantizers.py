"""Quantizers: forward values and straight-through gradients against NumPy formulas (exact +-1
inputs, zeros, clip boundaries), lookup by alias/object/callable, and config round trips."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from picoml.nn import quantizers as q  # noqa: E402
from picoml.nn.fake_quant import Int8ActivationFakeQuant, Int8WeightFakeQuant  # noqa: E402

torch.set_num_threads(1)

EDGES = [-3.0, -1.5, -1.0, -0.75, -0.5, -0.05, -1e-8, -0.0, 0.0, 1e-8, 0.05, 0.5, 0.75, 1.0, 1.5, 3.0]


def _inputs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([np.array(EDGES), rng.standard_normal(32) * 1.5]).astype(np.float32)


def np_sign(x):
    return np.where(x >= 0, 1.0, -1.0)


def clip_mask(x, c):
    return np.ones_like(x) if c is None else (np.abs(x) <= c).astype(np.float64)


def np_tern(x, t):
    return np.sign(np.sign(x + t) + np.sign(x - t))


def np_swish_grad(x, beta):
    bx = beta * x.astype(np.float64)
    with np.errstate(over="ignore"):
        return beta * (2 - bx * np.tanh(bx / 2)) / (1 + np.cosh(bx))


def np_dorefa_w(x, k):
    n = np.float32(2 ** k - 1)
    t = np.tanh(x)  # float32 throughout, as the forward pass computes it
    m = np.abs(t).max()
    u = t / m / np.float32(2) + np.float32(0.5)
    return np.float32(2) * (np.round(u * n) / n) - np.float32(1), (1 - t.astype(np.float64) ** 2) / m


# (id, quantizer factory, forward(x), gradient dq/dx(x), exact forward?)
CASES = [
    ("ste_sign", lambda: q.SteSign(), np_sign, lambda x: clip_mask(x, 1.0), True),
    ("ste_sign_clip0.5", lambda: q.SteSign(clip_value=0.5), np_sign, lambda x: clip_mask(x, 0.5), True),
    ("ste_sign_noclip", lambda: q.SteSign(clip_value=None), np_sign, lambda x: clip_mask(x, None), True),
    ("approx_sign", lambda: q.ApproxSign(), np_sign,
     lambda x: np.where(np.abs(x) <= 1, 2 - 2 * np.abs(x), 0.0), True),
    ("swish_sign", lambda: q.SwishSign(), np_sign, lambda x: np_swish_grad(x, 5.0), True),
    ("swish_sign_beta2", lambda: q.SwishSign(beta=2.0), np_sign, lambda x: np_swish_grad(x, 2.0), True),
    ("ste_tern", lambda: q.SteTern(), lambda x: np_tern(x, np.float32(0.05)), lambda x: clip_mask(x, 1.0), True),
    ("ste_tern_0.5_clip2", lambda: q.SteTern(threshold_value=0.5, clip_value=2.0),
     lambda x: np_tern(x, np.float32(0.5)), lambda x: clip_mask(x, 2.0), True),
    ("ste_tern_twn", lambda: q.SteTern(ternary_weight_networks=True),
     lambda x: np_tern(x, np.float32(0.7) * np.abs(x).sum(dtype=np.float32) / np.float32(x.size)),
     lambda x: clip_mask(x, 1.0), True),
    ("ste_heaviside", lambda: q.SteHeaviside(), lambda x: (x > 0).astype(np.float64),
     lambda x: clip_mask(x, 1.0), True),
    ("ste_heaviside_clip2", lambda: q.SteHeaviside(clip_value=2.0), lambda x: (x > 0).astype(np.float64),
     lambda x: clip_mask(x, 2.0), True),
    ("dorefa_act_k2", lambda: q.DoReFa(k_bit=2),
     lambda x: np.round(np.clip(x, 0, 1) * np.float32(3)) / np.float32(3),
     lambda x: ((x >= 0) & (x <= 1)).astype(np.float64), True),
    ("dorefa_act_k4", lambda: q.DoReFa(k_bit=4),
     lambda x: np.round(np.clip(x, 0, 1) * np.float32(15)) / np.float32(15),
     lambda x: ((x >= 0) & (x <= 1)).astype(np.float64), True),
    ("dorefa_weights_k2", lambda: q.DoReFa(k_bit=2, mode="weights"), lambda x: np_dorefa_w(x, 2)[0],
     lambda x: np_dorefa_w(x, 2)[1], False),
    ("noop", lambda: q.NoOp(bits=1), lambda x: x, lambda x: np.ones_like(x), True),
]


@pytest.mark.parametrize("name,make,fwd,grad,exact", CASES, ids=[c[0] for c in CASES])
def test_forward_and_gradient(name, make, fwd, grad, exact):
    x_np = _inputs()
    dy_np = np.random.default_rng(1).uniform(0.5, 2.0, x_np.shape).astype(np.float32)
    x = torch.tensor(x_np, requires_grad=True)
    y = make()(x)
    y.backward(torch.tensor(dy_np))
    if exact:
        np.testing.assert_array_equal(y.detach().numpy(), fwd(x_np).astype(np.float32))
    else:
        np.testing.assert_allclose(y.detach().numpy(), fwd(x_np), rtol=0, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), dy_np * grad(x_np), rtol=1e-5, atol=1e-7)


def test_sign_of_zero_is_plus_one():
    for quantizer in (q.SteSign(), q.ApproxSign(), q.SwishSign(), q.MagnitudeAwareSign(axis=0)):
        out = quantizer(torch.tensor([[0.0, -0.0, 1.0, -1.0]])).numpy().ravel()  # one channel
        assert (np.sign(out) == [1, 1, 1, -1]).all(), type(quantizer).__name__


def test_exact_pm1_inputs_keep_their_value_and_gradient():
    x = torch.tensor([-1.0, 1.0, -1.0, 1.0], requires_grad=True)
    y = q.SteSign()(x)
    y.sum().backward()
    assert torch.equal(y, x.detach())
    assert torch.equal(x.grad, torch.ones(4))  # |x| == clip_value passes the gradient


def test_tern_threshold_ties():
    t = np.float32(0.05)
    x = torch.tensor([-t, t, np.nextafter(t, np.float32(0)), -np.nextafter(t, np.float32(0)), 0.0])
    assert q.SteTern()(x).tolist() == [-1.0, 1.0, 0.0, 0.0, 0.0]


def test_magnitude_aware_sign_per_output_channel():
    rng = np.random.default_rng(2)
    w_np = rng.standard_normal((4, 3, 2, 2)).astype(np.float32) * 0.8
    dy_np = rng.uniform(0.5, 2, w_np.shape).astype(np.float32)
    scale = np.abs(w_np).mean(axis=(1, 2, 3), keepdims=True)
    w = torch.tensor(w_np, requires_grad=True)
    y = q.MagnitudeAwareSign()(w)
    y.backward(torch.tensor(dy_np))
    np.testing.assert_allclose(y.detach().numpy(), scale * np_sign(w_np), rtol=1e-6)
    np.testing.assert_allclose(w.grad.numpy(), dy_np * scale * clip_mask(w_np, 1.0), rtol=1e-6)
    # NCHW activations: one scale per channel on axis 1
    a = torch.tensor(w_np)
    np.testing.assert_allclose(q.MagnitudeAwareSign(axis=1)(a).numpy(),
                               np.abs(w_np).mean(axis=(0, 2, 3), keepdims=True) * np_sign(w_np), rtol=1e-6)


def test_large_swish_gradient_is_finite():
    x = torch.tensor([-100.0, 100.0, 30.0], requires_grad=True)
    q.SwishSign()(x).sum().backward()
    assert torch.isfinite(x.grad).all() and (x.grad.abs() < 1e-6).all()


EXPECTED_BITS = {"ste_sign": 1, "approx_sign": 1, "swish_sign": 1, "magnitude_aware_sign": 1, "ste_tern": 2,
                 "ste_heaviside": 1, "dorefa": 2, "noop": 32, "int8_activation": 8, "int8_weight": 8}


@pytest.mark.parametrize("alias", sorted(EXPECTED_BITS))
def test_get_by_alias_and_bits(alias):
    quantizer = q.get(alias)
    assert isinstance(quantizer, q.Quantizer) and quantizer.alias == alias
    assert quantizer.bits == quantizer.precision == EXPECTED_BITS[alias]
    assert q.aliases().count(alias) == 1


NON_DEFAULT = [q.SteSign(clip_value=0.3), q.SteSign(clip_value=None), q.ApproxSign(), q.SwishSign(beta=2.5),
               q.MagnitudeAwareSign(clip_value=2.0, axis=1), q.SteTern(0.2, True, None),
               q.SteHeaviside(clip_value=0.7), q.DoReFa(k_bit=3, mode="weights"), q.NoOp(bits=1),
               Int8ActivationFakeQuant(observer="minmax"), Int8ActivationFakeQuant(momentum=0.2),
               Int8WeightFakeQuant(axis=None)]


@pytest.mark.parametrize("quantizer", NON_DEFAULT, ids=lambda x: repr(x))
def test_serialization_round_trip(quantizer):
    config = json.loads(json.dumps(q.serialize(quantizer)))
    again = q.get(config)
    assert type(again) is type(quantizer)
    assert again.get_config() == quantizer.get_config()
    assert again.bits == quantizer.bits


def test_get_accepts_objects_classes_callables_and_none():
    obj = q.SteSign(clip_value=0.5)
    assert q.get(obj) is obj
    assert isinstance(q.get(q.SteTern), q.SteTern)
    assert q.get(torch.tanh) is torch.tanh
    assert q.get(None) is None
    assert q.bits_of(torch.tanh) is None
    with pytest.raises(ValueError, match="unknown quantizer"):
        q.get("not_a_quantizer")
    with pytest.raises(ValueError):
        q.get(3)
    with pytest.raises(ValueError, match="cannot serialize"):
        q.serialize(torch.tanh)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        q.DoReFa(mode="bad")
    with pytest.raises(ValueError):
        q.DoReFa(k_bit=0)
    with pytest.raises(ValueError):
        Int8ActivationFakeQuant(observer="histogram")


def test_is_binary():
    assert q.is_binary(q.SteSign()) and q.is_binary("x") is False
    assert not q.is_binary(q.NoOp(bits=1)) and not q.is_binary(q.SteTern()) and not q.is_binary(None)
