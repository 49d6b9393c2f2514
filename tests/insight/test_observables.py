"""The insight criterion: fits against brute force, scores, thresholds, uncertainty."""

import numpy as np

from learndyn.insight import observables as ob

T = np.arange(1, 13, dtype=float)


def _series(rng, n, noise=0.03):
    f_min = rng.uniform(0.5, 0.65, n)
    jump = rng.uniform(0.0, 0.35, n)
    t_s = rng.uniform(4.5, 11, n)
    m = rng.uniform(0.5, 8, n)
    clean = ob.sigmoid(T[None], f_min[:, None], (f_min + jump)[:, None], m[:, None],
                       t_s[:, None])
    return clean + noise * rng.normal(size=clean.shape)


def _dense_best(y):
    """SSE minimised over a dense (t_s, m) grid (spacing 0.01) with the optimal clipped f_max
    at each point: a brute-force reference for the exact fit."""
    f_min = y[:4].mean()
    d = y - f_min
    ms = np.linspace(0, 9, 901)
    best = np.inf
    for t_s in np.linspace(0, 12, 1201):
        s = ob.sigmoid(T[None, :], 0.0, 1.0, ms[:, None], t_s)
        ss, ds = np.sum(s**2, 1), s @ d
        amp = np.clip(np.where(ss > 0, ds / np.where(ss > 0, ss, 1), 0), 0.35 - f_min,
                      1 - f_min)
        best = min(best, np.min(np.sum(d**2) - 2 * amp * ds + amp**2 * ss))
    return best


def test_grid_fit_is_the_best_fit():
    rng = np.random.default_rng(0)
    y = _series(rng, 3)
    fit = ob.fit_grid(y)
    ref = np.array([_dense_best(row) for row in y])
    assert np.all(fit["sse"] <= ref + 1e-9)
    assert np.all(fit["sse"] >= ref - 1e-4)


def test_grid_fit_recovers_noiseless_parameters():
    f_min = np.array([0.6, 0.55])
    y = ob.sigmoid(T[None], f_min[:, None], np.array([[0.9], [0.8]]), np.array([[3.0], [1.2]]),
                   np.array([[7.3], [8.6]]))
    y[:, :4] = f_min[:, None]  # f_min is the mean of the first four bins, as in the criterion
    fit = ob.fit_grid(y)
    np.testing.assert_allclose(fit["t_switch"], [7.3, 8.6], atol=0.05)
    np.testing.assert_allclose(fit["f_max"], [0.9, 0.8], atol=0.01)


def test_lowe_fit_is_local_and_no_better_than_the_best():
    rng = np.random.default_rng(1)
    y = _series(rng, 40)
    lowe, grid = ob.fit_lowe(y), ob.fit_grid(y)
    assert np.all(lowe["sse"] >= grid["sse"] - 1e-6)  # the fit is flat along steep valleys
    assert np.all((lowe["t_switch"] >= 0) & (lowe["t_switch"] <= 12))
    assert np.mean(lowe["slope"]) > np.mean(grid["slope"])  # it stays near its start, m = 7
    flat = np.full((1, 12), 0.6)
    assert ob.fit_lowe(flat)["score"][0] <= 1e-9  # a flat series scores nothing


def test_scores_thresholds_and_classification():
    series = np.array([[0.6] * 4 + [0.6] * 4 + [0.9] * 4])
    assert np.isclose(ob.jump_score(series)[0], 0.3)
    controls = np.array([0.1, 0.2, np.nan, 0.3])
    assert ob.threshold(controls, controls, "max_control", 0.99) == 0.3
    assert ob.classify(np.array([0.31, 0.3, np.nan]), 0.3).tolist() == [True, False, False]
    pool = np.linspace(0, 1, 101)
    assert np.isclose(ob.threshold(controls, pool, "control_quantile", 0.9), 0.9)


def test_bootstrap_and_lone_control():
    rng = np.random.default_rng(2)
    controls = rng.normal(size=99)
    tests = np.concatenate([rng.normal(size=60), rng.normal(4.0, 0.5, size=39)])
    boot = ob.bootstrap_counts(tests, controls, n_boot=500, rng=rng)
    assert boot.min() >= (tests > controls.max()).sum()  # resampled maxima are never larger
    assert boot.max() <= 99
    assert ob.lone_control_threshold(np.append(controls, 10.0))
    assert not ob.lone_control_threshold(np.linspace(0.0, 1.0, 99))  # no outlier


def test_binned_hard_accuracy_uses_hardest_trials_only():
    acc = np.tile(np.r_[np.full(25, 0.9), np.full(25, 0.5)], 2)[None]
    levels = np.tile(np.r_[np.zeros(25, int), np.ones(25, int)], 2)[None]
    np.testing.assert_allclose(ob.binned_hard_accuracy(acc, levels), [[0.9, 0.9]])


def test_rise_time_of_a_logistic():
    t = np.arange(400.0)
    u = 2.0 / (1 + np.exp(-(t - 150) / 10.0))
    # 10 -> 90 % of a logistic with scale 10 takes 2 ln 9 x 10 = 43.9 trials
    assert abs(ob.rise_time(u[None])[0] - 2 * np.log(9) * 10) <= 1.0
    assert np.isnan(ob.rise_time(np.zeros((1, 50)))[0])
