"""gemmlowp fixed-point primitives and TFLM LUT helpers in picoml/kernels/fixedpoint.py,
against hand-computed values and the real functions they approximate."""
import math

import numpy as np
import pytest

from picoml.kernels import fixedpoint as fp
from picoml.kernels.quant import INT32_MAX, INT32_MIN


def q(value: float, integer_bits: int) -> int:
    """A real number as a raw Q(integer_bits) value, rounded to nearest."""
    return int(round(value * 2.0 ** (31 - integer_bits)))


def real(raw, integer_bits: int = 0) -> np.ndarray:
    return np.asarray(raw, np.float64) / 2.0 ** (31 - integer_bits)


# -- constants ----------------------------------------------------------------------------

def test_constants_are_the_rounded_reals():
    assert fp.EXP_MINUS_ONE_EIGHTH == q(math.exp(-1 / 8), 0)
    assert fp.ONE_THIRD == q(1 / 3, 0)
    assert fp.FORTY_EIGHT_OVER_17 == q(48 / 17, 2)
    assert fp.MINUS_32_OVER_17 == q(-32 / 17, 2)
    for e, raw in fp.EXP_MINUS_POT.items():
        assert raw == q(math.exp(-(2.0 ** e)), 0), e


def test_one_and_constant_pot():
    assert fp.one(0) == INT32_MAX  # 1.0 is not representable in Q0.31: saturates
    assert fp.one(2) == 1 << 29
    assert fp.one(12) == 1 << 19
    assert fp.constant_pot(0, -3) == 1 << 28  # 1/8
    assert fp.constant_pot(5, -2) == 1 << 24  # 1/4 in Q5.26


def test_sigmoid_table_shape_and_ends():
    t = fp.sigmoid_table_uint16()
    assert t.shape == (256,) and t[0] == 32768 and t[-1] == 65535
    assert np.all(np.diff(t) >= 0)
    # within ~1.1 of the exact sigmoid(i/24) in Q0.16
    exact = 65536.0 / (1.0 + np.exp(-np.arange(256) / 24.0))
    assert np.max(np.abs(t - exact)) < 1.2


# -- integer primitives -------------------------------------------------------------------

@pytest.mark.parametrize("a,b,expected", [(1, 2, 2), (3, 4, 4), (2, 2, 2), (-1, -2, -2), (1, -2, -1),
                                          (0, 0, 0), (INT32_MAX, INT32_MAX, INT32_MAX),
                                          (INT32_MIN, INT32_MIN, INT32_MIN)])
def test_rounding_half_sum(a, b, expected):
    assert fp.rounding_half_sum(a, b) == expected


@pytest.mark.parametrize("x,exponent,expected", [
    (1 << 28, 2, 1 << 30), (1 << 29, 2, INT32_MAX), (-(1 << 29), 2, INT32_MIN), ((1 << 29) - 1, 2, (1 << 31) - 4),
    (-((1 << 29) - 1), 2, -(1 << 31) + 4), (5, -1, 3), (-5, -1, -3), (4, -1, 2), (7, 0, 7), (6, -2, 2),
    (-6, -2, -2), (INT32_MAX, -12, 1 << 19)])
def test_saturating_rounding_multiply_by_pot(x, exponent, expected):
    assert fp.saturating_rounding_multiply_by_pot(x, exponent) == expected


def test_rescale_and_mul():
    assert fp.rescale(fp.one(0), 0, 12) == 1 << 19  # 1.0 in Q12.19, rounded up from 2^31-1
    assert fp.rescale(1 << 19, 12, 0) == INT32_MAX  # 1.0 does not fit Q0.31: saturates
    assert fp.mul(1 << 30, 1 << 30) == 1 << 29  # 0.5 * 0.5 = 0.25
    assert fp.mul(INT32_MIN, INT32_MIN) == INT32_MAX
    assert fp.mul(-(1 << 30), 1 << 30) == -(1 << 29)


def test_wrapping_add_sub_neg():
    assert fp.add(INT32_MAX, 1) == INT32_MIN
    assert fp.sub(INT32_MIN, 1) == INT32_MAX
    assert fp.neg(INT32_MIN) == INT32_MIN
    np.testing.assert_array_equal(fp.add(np.array([1, 2]), 3), [4, 5])


@pytest.mark.parametrize("x,expected", [(0, 32), (1, 31), (2, 30), (1 << 19, 12), (INT32_MAX, 1), (-1, 0),
                                        (INT32_MIN, 0), ((1 << 20) - 1, 12)])
def test_count_leading_zeros(x, expected):
    assert fp.count_leading_zeros_u32(x) == expected


def test_calculate_input_radius():
    assert fp.calculate_input_radius(5, 26) == 31  # 31 * 2^26 / 2^26
    assert fp.calculate_input_radius(5, 31) == 0  # 31/32 floors to 0
    assert fp.calculate_input_radius(5, 30) == 1
    assert fp.calculate_input_radius(4, 28, 31) == 7  # 15 * 2^27 / 2^28 = 7.5
    assert fp.calculate_input_radius(4, 20, 31) == 15 * 128


@pytest.mark.parametrize("x,expected", [(2.0 ** -12, (True, -12)), (2.0 ** -15, (True, -15)), (1.0, (True, 0)),
                                        (2.0 ** -12 * 1.0005, (True, -12)), (0.0003, (False, -12)),
                                        (3.0, (False, 2)), (0.0, (False, 0))])
def test_checked_log2(x, expected):
    assert fp.checked_log2(x) == expected


@pytest.mark.parametrize("x,expected", [(0.5, 1.0), (-0.5, -1.0), (2.5, 3.0), (-2.5, -3.0), (1.4, 1.0),
                                        (0.49999997, 0.0), (-0.49999997, -0.0), (8388609.0, 8388609.0)])
def test_round_half_away_f32(x, expected):
    assert fp.round_half_away_f32(np.array([x], np.float32))[0] == np.float32(expected)


# -- transcendental functions -------------------------------------------------------------

def test_exp_on_negative_values_exact_points_and_accuracy():
    assert fp.exp_on_negative_values(0, 5) == INT32_MAX
    a = -np.arange(0, 32 << 26, 12345 << 8, dtype=np.int64)  # [-32, 0] in Q5.26
    got = real(fp.exp_on_negative_values(a, 5))
    np.testing.assert_allclose(got, np.exp(real(a, 5)), atol=2e-7)  # gemmlowp's 4th-order polynomial
    assert np.all(np.diff(got) <= 0)  # monotone as the input decreases


def test_exp_on_negative_values_clamps_below_minus_32():
    # Q6.25 can hold values below -32: exp is flushed to 0 there
    a = np.array([-(33 << 25), -(32 << 25) - 1, -(1 << 25)])
    got = fp.exp_on_negative_values(a, 6)
    assert got[0] == 0 and got[1] == 0
    assert abs(real(got[2]) - math.exp(-1)) < 2e-7


def test_one_over_one_plus_x():
    x = np.arange(0, 1 << 31, 1 << 20, dtype=np.int64)
    np.testing.assert_allclose(real(fp.one_over_one_plus_x_for_x_in_0_1(x)), 1 / (1 + real(x)), atol=5e-9)
    np.testing.assert_allclose(real(fp.one_minus_x_over_one_plus_x_for_x_in_0_1(x)),
                               (1 - real(x)) / (1 + real(x)), atol=1e-8)


def test_logistic_and_tanh():
    assert fp.logistic(0, 4) == 1 << 30
    assert fp.tanh(0, 4) == 0
    a = np.arange(-(16 << 27) + 1, 16 << 27, 98765 << 6, dtype=np.int64)  # Q4.27 over (-16, 16)
    x = real(a, 4)
    np.testing.assert_allclose(real(fp.logistic(a, 4)), 1 / (1 + np.exp(-x)), atol=1e-7)
    np.testing.assert_allclose(real(fp.tanh(a, 4)), np.tanh(x), atol=2e-7)
    # exact symmetry of the gemmlowp definitions
    np.testing.assert_array_equal(fp.tanh(-a, 4), -fp.tanh(a, 4))
    np.testing.assert_array_equal(fp.logistic(-a, 4), fp.one(0) - fp.logistic(a, 4))


def test_get_reciprocal():
    x = np.array([1 << 19, 3 << 19, 10 << 19, (1 << 19) + 1, 4095 << 19])  # Q12.19
    s, n = fp.get_reciprocal(x, 12)
    np.testing.assert_array_equal(n, [0, 1, 3, 0, 11])
    np.testing.assert_allclose(real(s) * 2.0 ** -n, 1 / real(x, 12), rtol=1e-8)


# -- LUTs ---------------------------------------------------------------------------------

def _exp_f32(x):
    return np.exp(x.astype(np.float64)).astype(np.float32)


def test_gen_lut_ends_and_accuracy():
    lut = fp.gen_lut_int16(_exp_f32, -10.0, 0.0, -1.0, 1.0)
    assert lut.dtype == np.int16 and lut.shape == (513,)
    assert lut[512] == 32767  # exp(0) * 32768 saturates
    recip = fp.gen_lut_int16(lambda x: np.float32(1) / (np.float32(1) + x), 0.0, 1.0, -1.0, 1.0)
    assert recip[0] == 32767 and recip[512] == 16384
    grid = -10 + np.arange(512) * (10 / 512)
    assert np.max(np.abs(lut[:512] - np.exp(grid) * 32768)) <= 1.5  # rounding + a bias of at most 1


def test_lut_lookup_hits_entries_and_interpolates():
    lut = np.arange(-32768, 32768, 128, dtype=np.int64)
    lut = np.append(lut, 32767).astype(np.int16)  # 513 entries
    values = (np.arange(512) - 256) * 128
    np.testing.assert_array_equal(fp.lut_lookup_int16(values, lut), lut[:512])
    # a straight-line table interpolates exactly
    v = np.arange(-32768, 32640)
    np.testing.assert_array_equal(fp.lut_lookup_int16(v, lut), v)
    # rounding of the interpolation: (slope * offset + 64) >> 7
    small = np.zeros(513, np.int16)
    small[257] = 1
    np.testing.assert_array_equal(fp.lut_lookup_int16(np.array([63, 64, 127]), small), [0, 1, 1])
