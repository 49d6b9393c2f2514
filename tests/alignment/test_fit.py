"""Effective-rate fitting recovers known rates from synthetic (h, y, w) and loss curves."""

import numpy as np
import pytest

from learndyn.alignment import fit, theory

TIMES = np.arange(0.0, 3001.0, 10.0)


def _curves(h0, y0, w0, dx2, dy2, eta_h, eta_y, convention):
    eh, ey = theory.ode_rates(eta_h, eta_y, convention)
    h, y, w = (np.asarray(a) for a in theory.solve_hyw(h0, y0, w0, dx2, dy2, eh, ey, TIMES))
    return h, y, w


def test_fit_recovers_known_rates_and_mean_rate():
    """Three runs at once: rich starts (the ratio guess h_final^2/(dx2 dy2) is then close) and a
    start whose final h is far from the rich fixed point (the guess is off several-fold)."""
    cases = [  # h0, y0, w0, dx2, dy2, eta_h, eta_y
        (0.007, 3e-6, 1.2e-3, 1.0, 0.5, 0.017, 0.033),
        (0.002, 1e-6, 5e-4, 0.25, 1.0, 0.022, 0.021),
        (1.5, 0.05, 0.03, 1.0, 0.5, 0.004, 0.002),
    ]
    curves = [_curves(*c, "half_mse") for c in cases]
    h, y, w = (np.stack([c[i] for c in curves]) for i in range(3))
    dx2 = np.array([c[3] for c in cases])
    dy2 = np.array([c[4] for c in cases])
    eta_mean, gap0 = 0.02, np.array([0.3, 0.1, 0.2])
    loss = np.asarray(theory.loss(y, w, dy2=dy2[:, None], times=TIMES[None, :],
                                  eta_mean=eta_mean, mean_gap0=gap0[:, None],
                                  convention="half_mse"))
    f = fit.fit_rates(TIMES, h, y, w, dx2=dx2, dy2=dy2, loss=loss, mean_gap0=gap0)
    truth_h = np.array([c[5] for c in cases])
    truth_y = np.array([c[6] for c in cases])
    np.testing.assert_allclose(f.eta_h, truth_h, rtol=2e-3)
    np.testing.assert_allclose(f.eta_y, truth_y, rtol=2e-3)
    np.testing.assert_allclose(f.eta_mean, eta_mean, rtol=1e-3)
    assert np.all(f.r2_h > 0.9999) and np.all(f.r2_y > 0.9999) and np.all(f.r2_w > 0.999)
    np.testing.assert_allclose(f.h_fit, h, rtol=1e-2, atol=1e-4)


def test_fit_with_noise_and_half_sum_convention():
    """Noisy curves (1% of each variable's range, fixed seed): rates within a few percent."""
    h, y, w = _curves(0.01, 1e-5, 2e-3, 2.25, 1.0, 0.014, 0.031, "half_sum")
    rng = np.random.default_rng(0)
    noisy = [a + 0.01 * np.ptp(a) * rng.normal(size=a.shape) for a in (h, y, w)]
    noisy[0][0], noisy[1][0], noisy[2][0] = h[0], y[0], w[0]  # the fit starts from z(0)
    f = fit.fit_rates(TIMES, *noisy, dx2=2.25, dy2=1.0, convention="half_sum")
    assert f.eta_h.shape == ()
    assert float(f.eta_h) == pytest.approx(0.014, rel=0.05)
    assert float(f.eta_y) == pytest.approx(0.031, rel=0.05)
    assert float(f.r2_h) > 0.99


def test_r_squared():
    m = np.array([1.0, 2.0, 3.0, 4.0])
    assert fit.r_squared(m, m) == 1.0
    assert fit.r_squared(m, np.full(4, m.mean())) == pytest.approx(0.0)
    assert fit.r_squared(m, m + 1.0) == pytest.approx(1.0 - 4.0 / 5.0)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="matching"):
        fit.fit_rates(TIMES[:-1], np.ones(301), np.ones(301), np.ones(301), dx2=1.0, dy2=1.0)
