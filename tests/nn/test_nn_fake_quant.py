"""int8 fake quantization: TFLite rounding (ties away from zero), ranges holding 0, observers,
per-channel symmetric weights, STE gradients, and the same bits as tflite-micro's QUANTIZE and
DEQUANTIZE for the scale and zero point the observer reports."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from picoml.ir import DType, Graph, Op  # noqa: E402
from picoml.nn.fake_quant import (Int8ActivationFakeQuant, Int8WeightFakeQuant, MinMaxObserver,  # noqa: E402
                                  MovingAverageObserver, activation_qparams, set_observing)
from picoml.testing.opmodel import tensor  # noqa: E402
from picoml.testing.peers import run_tflm, tflm_available  # noqa: E402

torch.set_num_threads(1)


def np_round_away(v):
    v = np.asarray(v, np.float64)
    return np.copysign(np.floor(np.abs(v) + 0.5), v)


def np_act_params(lo, hi):
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    s64 = (hi - lo) / 255.0 if hi > lo else 1.0
    return np.float32(s64), int(np.clip(np_round_away(-128 - lo / s64), -128, 127))


def np_fake(x, scale, zp, qmin=-128, qmax=127):
    qv = np.clip(np_round_away(x / np.float32(scale)) + zp, qmin, qmax)  # x / scale in float32
    return ((qv - zp).astype(np.float32) * np.float32(scale)).astype(np.float32), qv.astype(np.int8)


@pytest.mark.parametrize("lo,hi", [(-1.0, 3.0), (0.5, 2.0), (-4.0, -1.0), (-0.3, 0.1), (0.0, 0.0), (-128.0, 127.0)])
def test_activation_params_include_zero(lo, hi):
    scale, zp = activation_qparams(torch.tensor(lo), torch.tensor(hi))
    exp_scale, exp_zp = np_act_params(np.float32(lo), np.float32(hi))  # observers hold float32
    assert scale.dtype == torch.float32 and float(scale) == float(exp_scale) and int(zp) == exp_zp
    # zero is exactly representable
    assert float((torch.tensor(0.0) / scale).round() + zp - zp) == 0.0


def test_ties_round_away_from_zero():
    fq = Int8ActivationFakeQuant(observer="minmax")
    fq.train()
    fq(torch.tensor([-128.0, 127.0]))  # scale 1, zero point 0
    assert fq.qparams() == (1.0, 0)
    fq.eval()
    x = torch.tensor([2.5, -2.5, 0.5, -0.5, 1.5, np.float32(0.49999997), 126.5, 127.6, -128.5, -300.0])
    assert fq(x).tolist() == [3.0, -3.0, 1.0, -1.0, 2.0, 0.0, 127.0, 127.0, -128.0, -128.0]


@pytest.mark.parametrize("observer", ["minmax", "moving_average"])
def test_forward_matches_numpy_and_gradient_is_ste(observer):
    rng = np.random.default_rng(3)
    fq = Int8ActivationFakeQuant(observer=observer)
    fq.train()
    x_np = (rng.standard_normal(200) * 2 + 0.7).astype(np.float32)
    x = torch.tensor(x_np, requires_grad=True)
    y = fq(x)  # the first batch initializes the range
    scale, zp = np_act_params(x_np.min(), x_np.max())
    assert fq.qparams() == (float(scale), zp)
    np.testing.assert_array_equal(y.detach().numpy(), np_fake(x_np, scale, zp)[0])
    y.sum().backward()
    # gradient 1 inside the nudged range [(-128 - zp) s, (127 - zp) s]; rounding the zero point can
    # leave the observed extreme just outside it (TensorFlow's FakeQuant gradient does the same)
    inside = (x_np >= np.float32(-128 - zp) * scale) & (x_np <= np.float32(127 - zp) * scale)
    np.testing.assert_array_equal(x.grad.numpy(), inside.astype(np.float32))
    assert inside.mean() > 0.98
    # values outside the range get no gradient
    fq.eval()
    x2 = torch.tensor([x_np.max() + 5, x_np.min() - 5, 0.0], requires_grad=True)
    fq(x2).sum().backward()
    assert x2.grad.tolist() == [0.0, 0.0, 1.0]


def test_observers():
    mm, ma = MinMaxObserver(), MovingAverageObserver(momentum=0.5)
    for batch in ([-1.0, 2.0], [-3.0, 1.0], [0.5, 0.6]):
        mm(torch.tensor(batch))
        ma(torch.tensor(batch))
    assert (float(mm.min_val), float(mm.max_val)) == (-3.0, 2.0)
    # min: -1 -> -1 + .5(-3 + 1) = -2 -> -2 + .5(0.5 + 2) = -0.75 ; max: 2 -> 1.5 -> 1.05
    assert float(ma.min_val) == pytest.approx(-0.75) and float(ma.max_val) == pytest.approx(1.05)
    state = ma.state_dict()
    fresh = MovingAverageObserver(momentum=0.5)
    assert not fresh.seen
    fresh.load_state_dict(state)
    assert fresh.seen and float(fresh.min_val) == float(ma.min_val)


def test_identity_before_observation_and_freezing():
    fq = Int8ActivationFakeQuant()
    x = torch.tensor([0.123, -4.56])
    fq.eval()
    assert torch.equal(fq(x), x)  # nothing observed yet
    fq.train()
    fq(torch.tensor([-1.0, 1.0]))
    set_observing(fq, False)
    before = fq.qparams()
    fq(torch.tensor([-50.0, 50.0]))
    assert fq.qparams() == before


def test_weight_fake_quant_per_channel():
    rng = np.random.default_rng(4)
    w_np = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    w_np[1] = 0.0  # an all-zero channel gets scale 1
    wq = Int8WeightFakeQuant(axis=0)
    w = torch.tensor(w_np, requires_grad=True)
    y = wq(w)
    amax = np.abs(w_np).reshape(3, -1).max(axis=1)
    scale = np.where(amax > 0, amax / np.float32(127), np.float32(1)).astype(np.float32).reshape(3, 1, 1, 1)
    exp_y, exp_q = np_fake(w_np, scale, 0, -127, 127)
    np.testing.assert_array_equal(y.detach().numpy(), exp_y)
    np.testing.assert_array_equal(wq.quantize(w).numpy(), exp_q)
    assert wq.quantize(w).abs().max() == 127
    y.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
    # per tensor
    s, _ = Int8WeightFakeQuant(axis=None).quant_params(w)
    assert s.numel() == 1 and float(s) == float(np.float32(np.abs(w_np).max() / np.float32(127)))


@pytest.mark.skipif(not tflm_available(), reason="tflite-micro is not installed")
@pytest.mark.parametrize("lo,hi", [(-1.3, 2.9), (0.2, 5.0), (-128.0, 127.0)])
def test_same_bits_as_tflm_quantize_dequantize(lo, hi):
    """QUANTIZE (float -> int8) then DEQUANTIZE in tflite-micro reproduce the fake-quant values."""
    rng = np.random.default_rng(5)
    fq = Int8ActivationFakeQuant(observer="minmax")
    fq.train()
    fq(torch.tensor([lo, hi]))
    scale, zp = fq.qparams()
    x = rng.uniform(lo - 1, hi + 1, size=(1, 300)).astype(np.float32)
    x[0, :40] = (np.arange(-20, 20) + 0.5) * scale  # x / scale is an exact tie for most of these
    tensors = [tensor("x", x.shape, DType.FLOAT32), tensor("q", x.shape, DType.INT8, scale, zp),
               tensor("y", x.shape, DType.FLOAT32)]
    ops = [Op("QUANTIZE", ["x"], ["q"], {}), Op("DEQUANTIZE", ["q"], ["y"], {})]
    graph = Graph({t.name: t for t in tensors}, ops, ["x"], ["y"]).validate()
    from picoml.exporters.tflite import export_tflite

    (expected,) = run_tflm(export_tflite(graph), [x])
    fq.eval()
    got = fq(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(got, np.asarray(expected).reshape(got.shape))
