"""A reduced "dead zone, then escape" theory of the insight networks (ours, not the paper's).

For the gated network of Löwe et al. (PLOS Comp Biol 2024) with the authors' update rule
("code"; the paper rule where stated). n counts trials; rho := E[y (y - y_m)] with
y_m = g_m w_m x_m is the motion residual that colour could explain:
rho = 1/2 E_coh[1 - g_m w_m mu_m(coh)] for targets 0/1, E_coh[1 - g_m w_m mu_m(coh)] for -1/+1.

R1 (closed gate, silent weight). While g_c = 0 the colour weight has no data gradient, so it
    moves by noise alone: Var[w_c(n)] = n (alpha sigma_xi)^2 (paper rule: n sigma_xi^2), and
    E|w_c(n_on)| = alpha sigma_xi sqrt(2 n_on / pi) at colour onset. Noise kicks a resting gate
    off zero with probability 2 Phi(-lam / sigma_xi) per trial; the next L1 step resets it.
R2 (dead zone). In the colour phase the mean drive on the gate is alpha |w_c| mu_c rho per
    trial against an L1 pull lam (paper rule: alpha lam), so the gate stays closed while
    |w_c| < w* = lam / (alpha mu_c rho) (paper rule: lam / (mu_c rho)).
R3 (escape). Beyond w* the product u = g_c w_c grows self-reinforcingly, e-folding in about
    1 / (alpha mu_c rho) trials: a sigmoidal rise short compared with the delay.
R4 (delay and selectivity). A network switches within the colour phase iff |w_c| reaches w*
    in time: with w_c a random walk of step SD alpha sigma_xi started at its onset value,
    P_insight = P(max_{n <= N} |w_c(n)| >= w*), the two-sided exit probability of the walk,
    computed here for Brownian motion by the method of images with the discrete-monitoring
    correction of Broadie, Glasserman & Kou (1997): the barriers move out by 0.5826 step SDs.

Everything here is NumPy/SciPy in float64.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from . import data

__all__ = [
    "BGK",
    "escape_time",
    "gate_kick_probability",
    "mean_first_passage",
    "mean_abs_wc",
    "p_cross",
    "p_insight_curve",
    "rho",
    "wc_variance",
    "w_star",
]

#: Broadie-Glasserman-Kou constant -zeta(1/2)/sqrt(2 pi)
BGK = 0.5825971579390106


def _step_sd(alpha, sigma_xi, rule: str):
    return np.asarray(sigma_xi, float) * (np.asarray(alpha, float) if rule == "code" else 1.0)


def rho(a_m, mu_m, *, plus_minus: bool = False) -> np.ndarray:
    """The motion residual rho from the effective motion weight a_m = g_m w_m (...,) and each
    network's motion means mu_m (..., 5), averaged over the main-phase level mix."""
    weights = np.asarray(data.LEVEL_COUNTS, float) / sum(data.LEVEL_COUNTS)
    mean_mu = np.asarray(mu_m, float) @ weights
    r = 1.0 - np.asarray(a_m, float) * mean_mu
    return r if plus_minus else 0.5 * r


def w_star(lam, alpha, mu_c, rho_value, rule: str = "code") -> np.ndarray:
    """The dead-zone edge w* = lam / (alpha mu_c rho) (paper rule: lam / (mu_c rho)); inf
    where rho <= 0 (motion explains everything, no drive on the colour gate)."""
    rho_value = np.asarray(rho_value, float)
    drive = mu_c * rho_value * (np.asarray(alpha, float) if rule == "code" else 1.0)
    with np.errstate(divide="ignore"):
        return np.where(drive > 0, np.asarray(lam, float) / np.where(drive > 0, drive, 1.0),
                        np.inf)


def wc_variance(n_on, alpha, sigma_xi, rule: str = "code") -> np.ndarray:
    """R1: Var[w_c] after n_on trials of noise alone: n_on (alpha sigma_xi)^2."""
    return np.asarray(n_on, float) * _step_sd(alpha, sigma_xi, rule) ** 2


def mean_abs_wc(n_on, alpha, sigma_xi, rule: str = "code") -> np.ndarray:
    """R1: E|w_c| at onset, alpha sigma_xi sqrt(2 n_on / pi) (start at 0)."""
    return np.sqrt(2.0 * wc_variance(n_on, alpha, sigma_xi, rule) / np.pi)


def gate_kick_probability(lam, sigma_xi) -> np.ndarray:
    """R1: probability per trial that noise opens a resting gate (code rule), 2 Phi(-lam/s)."""
    sigma_xi = np.asarray(sigma_xi, float)
    with np.errstate(divide="ignore"):
        return np.where(sigma_xi > 0, 2.0 * ndtr(-np.asarray(lam, float) /
                                                 np.where(sigma_xi > 0, sigma_xi, 1.0)), 0.0)


def escape_time(alpha, mu_c, rho_value, rule: str = "code") -> np.ndarray:
    """R3: e-folding time (trials) of u = g_c w_c beyond the dead zone, 1 / (alpha mu_c rho)."""
    return 1.0 / (mu_c * np.asarray(rho_value, float) *
                  (np.asarray(alpha, float) if rule == "code" else 1.0))


def p_cross(w0, barrier, step_sd, n_steps, *, n_images: int = 8) -> np.ndarray:
    """R4: probability that a Gaussian random walk started at ``w0`` with step SD ``step_sd``
    leaves (-barrier, barrier) within ``n_steps`` steps (1 if it starts outside).

    Brownian motion by the method of images on the interval (-b, b), b = barrier + BGK step_sd
    (the discrete-monitoring correction); exact for Brownian motion as ``n_images`` grows."""
    w0, barrier, step_sd, n_steps = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (w0, barrier, step_sd, n_steps)))
    outside = np.abs(w0) >= barrier
    scale = step_sd * np.sqrt(n_steps)
    b = barrier + BGK * step_sd
    b = np.where(np.isfinite(b), b, 1.0)
    width = 2.0 * b
    y = np.clip(w0 + b, 0.0, width)  # start measured from the lower barrier
    safe = np.where(scale > 0, scale, 1.0)
    stay = np.zeros_like(y)
    for k in range(-n_images, n_images + 1):
        shift = 2.0 * k * width
        stay += (ndtr((width - y + shift) / safe) - ndtr((-y + shift) / safe)
                 - ndtr((width + y + shift) / safe) + ndtr((y + shift) / safe))
    p = np.clip(1.0 - stay, 0.0, 1.0)
    p = np.where(np.isfinite(barrier) & (scale > 0), p, 0.0)
    return np.where(outside, 1.0, p)


def mean_first_passage(w0, barrier, step_sd, n_steps: int) -> float:
    """R4 delays: the mean trial at which |w_c| first reaches w*, over the networks (rows of
    ``w0``, ``barrier``) that do so within ``n_steps`` (mixture over networks, each weighted by
    its crossing probability; networks starting beyond w* count at trial 0)."""
    grid = np.arange(0, int(n_steps) + 1, dtype=float)
    w0, barrier = (np.ravel(np.asarray(v, float))[:, None] for v in (w0, barrier))
    probs = p_cross(w0, barrier, step_sd, np.maximum(grid, 1e-12)[None, :])
    probs[:, 0] = np.where(np.abs(w0[:, 0]) >= barrier[:, 0], 1.0, 0.0)
    density = np.diff(probs, axis=1, prepend=0.0)
    total = density.sum()
    return float((density * grid).sum() / total) if total > 0 else np.nan


def p_insight_curve(sigma_xi, lam, rho_value, *, alpha: float = 0.6, mu_c: float = 0.22,
                    n_on: int = 1000, n_colour: int = 400, w_init: float = 0.01,
                    rule: str = "code", n_nodes: int = 64) -> np.ndarray:
    """R4 for a population: P_insight averaged over the R1 onset distribution
    w_c(onset) ~ N(w_init, n_on step^2), by Gauss-Hermite quadrature; broadcasts over
    ``sigma_xi``, ``lam`` and ``rho_value``."""
    sigma_xi, lam, rho_value = np.broadcast_arrays(
        *(np.asarray(v, float) for v in (sigma_xi, lam, rho_value)))
    step = _step_sd(alpha, sigma_xi, rule)
    barrier = w_star(lam, alpha, mu_c, rho_value, rule)
    nodes, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / weights.sum()
    w0 = w_init + np.sqrt(n_on) * step[..., None] * nodes
    p = p_cross(w0, barrier[..., None], step[..., None], n_colour)
    return np.sum(p * weights, axis=-1)
