"""What is measured: the insight criterion of Löwe et al. (2024), its uncertainty, and the
silent-knowledge, delay and rise-time measures.

**Criterion.** A network's hardest-level (5 % coherence) analytic accuracy is averaged in
50-trial bins over the motion and motion + colour phases (12 bins: 1-4 motion, 5-12 colour).
With f_min the mean of bins 1-4 (fixed), the sigmoid

    acc(t) = f_min + (f_max - f_min) / (1 + exp(-m (t - t_s))),   t = 1 ... 12,

is fitted by least squares with f_max in [0.35, 1], t_s in [0, 12], m in [0, 9].
steepness = m (f_max - f_min) / 4, score = steepness - SSE, and a network has insight iff its
score exceeds the largest score of the batch's control networks (colour never predictive).
The delay is (t_s - 4) 50 trials after colour onset. Options (:data:`FITS`, :data:`THRESHOLDS`,
:data:`SCORES`):

- fit ``lowe``: one local derivative-free run from (f_max, t_s, m) = (0.5, 4, 7): a linear-model
  trust-region descent in the spirit of COBYLA (:func:`fit_lowe`), standing in for the
  authors' NLopt COBYLA call (NLopt is not a dependency, and SciPy's COBYLA takes ~1 s per
  fit); like it, it is local and stays near its start.
  ``grid``: the exact best fit; for fixed (t_s, m) the model is linear in f_max, so least
  squares on a (t_s, m) grid with closed-form clipped f_max, then two zoomed grids;
- threshold ``max_control`` (paper) or ``control_quantile`` (quantile q of a control pool);
- score ``steepness_minus_sse`` (paper) or ``jump`` (mean of bins 9-12 minus f_min).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BIN",
    "FITS",
    "N_MOTION_BINS",
    "SCORES",
    "THRESHOLDS",
    "binned_hard_accuracy",
    "bootstrap_counts",
    "classify",
    "fit_grid",
    "fit_lowe",
    "fit_switch",
    "jump_score",
    "local_descent",
    "lone_control_threshold",
    "rise_time",
    "sigmoid",
    "switch_scores",
    "threshold",
]

BIN = 50
N_MOTION_BINS = 4
FITS = ("lowe", "grid")
THRESHOLDS = ("max_control", "control_quantile")
SCORES = ("steepness_minus_sse", "jump")
LOWER = np.array([0.35, 0.0, 0.0])
UPPER = np.array([1.0, 12.0, 9.0])
START = np.array([0.5, 4.0, 7.0])


def binned_hard_accuracy(acc: np.ndarray, levels: np.ndarray, bin_size: int = BIN) -> np.ndarray:
    """Mean accuracy over hardest-level trials (level 0) in consecutive bins.

    ``acc`` and ``levels`` have shape (..., trials), trials a multiple of ``bin_size``; returns
    (..., trials // bin_size) (NaN for a bin without hardest trials)."""
    shape = acc.shape[:-1] + (acc.shape[-1] // bin_size, bin_size)
    hard = (levels == 0).reshape(shape)
    total = np.where(hard, acc.reshape(shape), 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / hard.sum(-1)


def sigmoid(t: np.ndarray, f_min, f_max, m, t_s) -> np.ndarray:
    """f_min + (f_max - f_min) / (1 + exp(-m (t - t_s)))."""
    z = np.clip(-m * (t - t_s), -700.0, 700.0)
    return f_min + (f_max - f_min) / (1.0 + np.exp(z))


def _sse(series: np.ndarray, f_min: np.ndarray, x: np.ndarray) -> np.ndarray:
    """SSE of parameters ``x`` (..., 3) = (f_max, t_s, m) for series (N, bins); x has the
    network axis first."""
    t = np.arange(1, series.shape[-1] + 1, dtype=float)
    extra = x.ndim - 2
    idx = (slice(None),) + (None,) * extra
    fit = sigmoid(t, f_min[idx][..., None], x[..., 0:1], x[..., 2:3], x[..., 1:2])
    return np.sum((series[idx] - fit) ** 2, axis=-1)


def fit_lowe(series: np.ndarray, *, n_pre: int = N_MOTION_BINS, rho_end: float = 1e-8,
             max_evals: int = 10_000) -> dict[str, np.ndarray]:
    """The local fit from (0.5, 4, 7), vectorised over networks (rows of ``series``): a
    linear-model trust-region descent in the spirit of COBYLA (:func:`local_descent`), in
    coordinates scaled by NLopt's default initial steps for this start and these bounds,
    (0.1125, 3, 1.5). Stops when the trust radius falls below ``rho_end``."""
    series = np.asarray(series, float)
    f_min = series[:, :n_pre].mean(axis=1)
    x0 = np.tile(START, (series.shape[0], 1))
    x = local_descent(series, f_min, x0, np.array([0.1125, 3.0, 1.5]), rho_end=rho_end,
                      max_evals=max_evals)
    return _result(series, f_min, x)


def local_descent(series: np.ndarray, f_min: np.ndarray, x0: np.ndarray, scale: np.ndarray, *,
                  rho_end: float = 1e-8, max_evals: int = 10_000) -> np.ndarray:
    """Minimise the SSE of the sigmoid from ``x0`` (N, 3) = (f_max, t_s, m) within the bounds.

    In coordinates z = (x - x0) / ``scale``: the simplex z + rho e_i (rho = 1 at first, steps
    turned inwards at a bound) gives a linear model of the SSE; the trial point is
    z - rho g/|g| (clipped to the bounds). The best of the simplex and the trial point becomes
    z; when none improves on z, rho halves. Rows run until rho < ``rho_end`` or
    ``max_evals`` evaluations."""
    n = series.shape[0]
    lo, hi = (LOWER[None] - x0) / scale, (UPPER[None] - x0) / scale
    z = np.zeros((n, 3))
    f = _sse(series, f_min, x0[:, None, :])[:, 0]
    rho = np.ones(n)
    evals = 1
    act = np.arange(n)  # rows still running: only these are computed
    while act.size and evals + 4 <= max_evals:
        za, fa, ra, k = z[act], f[act], rho[act], np.arange(act.size)
        base, ya, fm = x0[act], series[act], f_min[act]
        steps = ra[:, None] * np.where(za + ra[:, None] <= hi[act], 1.0, -1.0)
        simplex = za[:, None, :] + np.eye(3)[None] * steps[:, None, :]
        f_simplex = _sse(ya, fm, base[:, None, :] + scale * simplex)
        grad = (f_simplex - fa[:, None]) / steps
        norm = np.linalg.norm(grad, axis=1)
        direction = -grad / np.where(norm > 0, norm, 1.0)[:, None]
        trial = np.clip(za + ra[:, None] * direction, lo[act], hi[act])
        cand = np.concatenate([simplex, trial[:, None, :]], axis=1)
        fc = np.concatenate([f_simplex, _sse(ya, fm, base[:, None, :] + scale * trial[:, None])],
                            axis=1)
        best = np.argmin(fc, axis=1)
        better = fc[k, best] < fa
        z[act] = np.where(better[:, None], cand[k, best], za)
        f[act] = np.where(better, fc[k, best], fa)
        rho[act] = np.where(better, ra, 0.5 * ra)
        act = act[rho[act] >= rho_end]
        evals += 4
    return x0 + scale * z


def _grid_sse(d: np.ndarray, shapes: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Best clipped amplitude and its SSE for residual targets d (N, bins) and sigmoid shapes
    (N, K, bins) or (K, bins); f_max - f_min is clipped to [lo, hi] (N,)."""
    if shapes.ndim == 2:
        ds = d @ shapes.T
        ss = np.sum(shapes**2, axis=-1)[None, :]
    else:
        ds = np.einsum("nb,nkb->nk", d, shapes)
        ss = np.sum(shapes**2, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        amp = np.where(ss > 0, ds / ss, 0.0)
    amp = np.clip(amp, lo[:, None], hi[:, None])
    sse = np.sum(d**2, axis=-1)[:, None] - 2 * amp * ds + amp**2 * ss
    return amp, sse


def fit_grid(series: np.ndarray, *, n_pre: int = N_MOTION_BINS, n_starts: int = 6,
             chunk: int = 128) -> dict[str, np.ndarray]:
    """The least-squares fit: a (t_s, m) grid (spacing 0.05 x 0.1) with the optimal clipped
    f_max in closed form; from the ``n_starts`` best grid points, two zoomed 21 x 21 grids
    (final spacing 5e-4 x 1e-3); the two best of these polished by :func:`local_descent`.
    Runs ``chunk`` networks at a time (bounded memory)."""
    series = np.asarray(series, float)
    n, n_bins = series.shape
    t = np.arange(1, n_bins + 1, dtype=float)
    ts, ms = np.meshgrid(np.linspace(LOWER[1], UPPER[1], 241),
                         np.linspace(LOWER[2], UPPER[2], 91), indexing="ij")
    ts, ms = ts.ravel(), ms.ravel()
    shapes = sigmoid(t[None, :], 0.0, 1.0, ms[:, None], ts[:, None])
    f_min = series[:, :n_pre].mean(axis=1)
    x = np.concatenate([_grid_chunk(series[i:i + chunk], f_min[i:i + chunk], t, ts, ms, shapes,
                                    n_starts) for i in range(0, n, chunk)])
    return _result(series, f_min, x)


def _grid_chunk(series, f_min, t, ts, ms, shapes, n_starts):
    n = series.shape[0]
    d = series - f_min[:, None]
    _, sse = _grid_sse(d, shapes, LOWER[0] - f_min, UPPER[0] - f_min)
    k = np.argpartition(sse, n_starts, axis=1)[:, :n_starts]
    starts = np.stack([ts[k], ms[k]], axis=-1)
    # every start refined as its own row
    rows = np.repeat(np.arange(n), n_starts)
    y, fm, best = series[rows], f_min[rows], starts.reshape(-1, 2)
    dr = y - fm[:, None]
    lo, hi = LOWER[0] - fm, UPPER[0] - fm
    offsets = np.linspace(-1.0, 1.0, 21)
    for width in ((0.05, 0.1), (0.005, 0.01)):
        local_t = np.clip(best[:, 0:1, None] + width[0] * offsets[None, :, None],
                          LOWER[1], UPPER[1])
        local_m = np.clip(best[:, 1:2, None] + width[1] * offsets[None, None, :],
                          LOWER[2], UPPER[2])
        local_t, local_m = np.broadcast_arrays(local_t, local_m)
        lt, lm = local_t.reshape(rows.size, -1), local_m.reshape(rows.size, -1)
        shape = sigmoid(t[None, None, :], 0.0, 1.0, lm[..., None], lt[..., None])
        _, sse = _grid_sse(dr, shape, lo, hi)
        k = np.argmin(sse, axis=1)
        best = np.stack([lt[np.arange(rows.size), k], lm[np.arange(rows.size), k]], axis=1)
    shape = sigmoid(t[None, None, :], 0.0, 1.0, best[:, 1:2, None], best[:, 0:1, None])
    amp, sse = _grid_sse(dr, shape, lo, hi)
    x = np.stack([fm + amp[:, 0], best[:, 0], best[:, 1]], axis=1).reshape(n, n_starts, 3)
    # polish the two best refined starts off the grid (steep fits lie in curved valleys)
    keep = np.argsort(sse[:, 0].reshape(n, n_starts), axis=1)[:, :2]
    x = np.take_along_axis(x, keep[..., None], axis=1).reshape(-1, 3)
    y, fm = series[np.repeat(np.arange(n), 2)], f_min[np.repeat(np.arange(n), 2)]
    x = local_descent(y, fm, x, np.array([0.02, 0.1, 0.5]), rho_end=1e-7, max_evals=4000)
    pick = np.argmin(_sse(y, fm, x).reshape(n, 2), axis=1)
    return x.reshape(n, 2, 3)[np.arange(n), pick]


def _result(series, f_min, x) -> dict[str, np.ndarray]:
    sse = _sse(series, f_min, x)
    steep = x[:, 2] * (x[:, 0] - f_min) / 4.0
    return {"f_min": f_min, "f_max": x[:, 0], "t_switch": x[:, 1], "slope": x[:, 2],
            "sse": sse, "steepness": steep, "score": steep - sse}


def fit_switch(series: np.ndarray, fit: str = "lowe") -> dict[str, np.ndarray]:
    """Fit every row of ``series`` (N, 12) with method ``fit`` (see the module docstring).
    Rows with a NaN (diverged networks) give NaN results."""
    series = np.asarray(series, float)
    ok = np.all(np.isfinite(series), axis=1)
    fitter = {"lowe": fit_lowe, "grid": fit_grid}[fit]
    out = {k: np.full(series.shape[0], np.nan) for k in
           ("f_min", "f_max", "t_switch", "slope", "sse", "steepness", "score")}
    if ok.any():
        for k, v in fitter(series[ok]).items():
            out[k][ok] = v
    return out


def jump_score(series: np.ndarray, n_pre: int = N_MOTION_BINS) -> np.ndarray:
    """Mean of the last four bins minus the mean of the motion bins."""
    return series[..., -4:].mean(axis=-1) - series[..., :n_pre].mean(axis=-1)


def switch_scores(fitted: dict[str, np.ndarray], series: np.ndarray, score: str) -> np.ndarray:
    """The classification score of each network for option ``score``."""
    if score == "steepness_minus_sse":
        return fitted["score"]
    if score == "jump":
        return jump_score(series)
    raise ValueError(f"unknown score {score!r}")


def threshold(control_scores: np.ndarray, pool_scores: np.ndarray, kind: str,
              quantile: float) -> float:
    """The batch's insight threshold: the largest score of its controls (``max_control``) or
    the ``quantile`` of a (larger) control pool (``control_quantile``); NaNs ignored."""
    if kind == "max_control":
        return float(np.nanmax(control_scores))
    if kind == "control_quantile":
        return float(np.nanquantile(pool_scores, quantile))
    raise ValueError(f"unknown threshold {kind!r}")


def classify(scores: np.ndarray, thresh: float) -> np.ndarray:
    """Insight iff the score exceeds the threshold (NaN scores: no insight)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(scores) > thresh


def bootstrap_counts(test_scores: np.ndarray, control_scores: np.ndarray, *, n_boot: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Insight counts with the controls resampled with replacement (max-control threshold),
    ``n_boot`` values: the threshold's sampling uncertainty within one batch."""
    controls = control_scores[np.isfinite(control_scores)]
    tests = np.sort(np.where(np.isfinite(test_scores), test_scores, -np.inf))
    draws = rng.choice(controls, size=(n_boot, controls.size), replace=True).max(axis=1)
    return tests.size - np.searchsorted(tests, draws, side="right")


def lone_control_threshold(control_scores: np.ndarray, n_sd: float = 2.0) -> bool:
    """Is the max-control threshold set by one control more than ``n_sd`` SDs above the mean
    of the others?"""
    c = np.sort(control_scores[np.isfinite(control_scores)])
    rest = c[:-1]
    return bool(c[-1] > rest.mean() + n_sd * rest.std(ddof=1))


def rise_time(u: np.ndarray, *, tail: int = 20) -> np.ndarray:
    """10 -> 90 % rise time (trials) of each row of ``u`` (N, trials), e.g. |g_c w_c| over the
    colour phase: the final value is the mean of the last ``tail`` trials; t_90 is the first
    trial at or above 90 % of it, t_10 the last trial before t_90 below 10 %."""
    u = np.asarray(u, float)
    final = u[:, -tail:].mean(axis=1, keepdims=True)
    above = u >= 0.9 * final
    t90 = np.where(above.any(axis=1), np.argmax(above, axis=1), -1)
    idx = np.arange(u.shape[1])[None, :]
    below = (u < 0.1 * final) & (idx < t90[:, None])
    t10 = np.where(below.any(axis=1), u.shape[1] - 1 - np.argmax(below[:, ::-1], axis=1), 0)
    out = (t90 - t10).astype(float)
    return np.where((t90 >= 0) & (final[:, 0] > 0), out, np.nan)
