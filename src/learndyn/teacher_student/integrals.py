r"""Gaussian averages over the local fields of two-layer networks (float64, vectorised).

For jointly Gaussian fields with covariance ``C`` (entries ``C_ab``, indices in argument order)
and an activation g, the ODEs of Saad & Solla (PRL 74, 4337, 1995) and Goldt et al. (NeurIPS
2019) need

.. math::

    I_2 = \langle g(a) g(b)\rangle,\quad I_3 = \langle g'(a)\, b\, g(c)\rangle,\quad
    I_4 = \langle g'(a) g'(b) g(c) g(d)\rangle,\quad J_2 = \langle g'(a) g'(b)\rangle .

Each function below takes the covariance entries as arrays that broadcast against each other
(same rank; the package runs with ``jax_numpy_rank_promotion="raise"``) and returns the average.

**erf**, g(x) = erf(x/sqrt 2) (Saad & Solla 1995; Biehl & Schwarze 1995):

- I2 = (2/pi) arcsin(C12 / sqrt((1+C11)(1+C22)))
- J2 = (2/pi) / sqrt((1+C11)(1+C22) - C12^2)
- I3 = (2/pi) [C23(1+C11) - C12 C13] / [(1+C11) sqrt(L3)],  L3 = (1+C11)(1+C33) - C13^2
- I4 = (4/pi^2) L4^{-1/2} arcsin(L0 / sqrt(L1 L2)) with L4, L0, L1, L2 as in :func:`erf_i4`.

**linear**: I2 = C12, I3 = C23, I4 = C34, J2 = 1.

**ReLU**, g(x) = max(0, x), g'(x) = 1[x > 0]:

- I2 = sqrt(C11 C22)/(2 pi) [sin t + (pi - t) cos t], cos t = C12/sqrt(C11 C22) (the
  arc-cosine kernel of Cho & Saul 2009; closed form);
- J2 = P(a > 0, b > 0) = 1/4 + arcsin(r12)/(2 pi), r12 = C12/sqrt(C11 C22) (closed form);
- I3 (closed form): Gaussian integration by parts in the middle field b gives
  <1[a>0] b relu(c)> = C12 <delta(a) relu(c)> + C23 <1[a>0] 1[c>0]>, and
  <delta(a) relu(c)> = sqrt(C11 C33 - C13^2) / (2 pi C11), so
  I3 = C12 sqrt(C11 C33 - C13^2)/(2 pi C11) + C23 [1/4 + arcsin(r13)/(2 pi)];
- I4 = <1[a>0] 1[b>0] relu(c) relu(d)> has no elementary closed form (it contains a
  four-dimensional orthant probability). :func:`relu_i4` reduces it exactly to one angular
  integral and evaluates that by quadrature, see there. Accuracy: ~1e-9 relative.

Arcsine arguments are clipped to [-1, 1] and square roots at 0 (rounding can push exactly
degenerate covariances, such as a field with itself, just outside).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["ACTIVATIONS", "FUNCTIONS", "I2", "I3", "I4", "J2", "has_i4"]

_TINY = 1e-300


def _asin(x):
    return jnp.arcsin(jnp.clip(x, -1.0, 1.0))


def _sqrt(x):
    return jnp.sqrt(jnp.maximum(x, 0.0))


# ---- erf ----------------------------------------------------------------------------------
def erf_i2(c11, c12, c22):
    return (2.0 / jnp.pi) * _asin(c12 / jnp.sqrt((1.0 + c11) * (1.0 + c22)))


def erf_j2(c11, c12, c22):
    return (2.0 / jnp.pi) / _sqrt((1.0 + c11) * (1.0 + c22) - c12**2)


def erf_i3(c11, c12, c13, c22, c23, c33):
    del c22  # the middle field enters linearly: only its covariances matter
    lam3 = (1.0 + c11) * (1.0 + c33) - c13**2
    return (2.0 / jnp.pi) * (c23 * (1.0 + c11) - c12 * c13) / ((1.0 + c11) * _sqrt(lam3))


def erf_i4(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44):
    lam4 = (1.0 + c11) * (1.0 + c22) - c12**2
    lam0 = (lam4 * c34 - c23 * c24 * (1.0 + c11) - c13 * c14 * (1.0 + c22)
            + c12 * c13 * c24 + c12 * c14 * c23)
    lam1 = lam4 * (1.0 + c33) - c23**2 * (1.0 + c11) - c13**2 * (1.0 + c22) + 2.0 * c12 * c13 * c23
    lam2 = lam4 * (1.0 + c44) - c24**2 * (1.0 + c11) - c14**2 * (1.0 + c22) + 2.0 * c12 * c14 * c24
    return (4.0 / jnp.pi**2) / _sqrt(lam4) * _asin(lam0 / _sqrt(lam1 * lam2))


# ---- linear -------------------------------------------------------------------------------
def linear_i2(c11, c12, c22):
    return c12 + 0.0 * (c11 + c22)


def linear_j2(c11, c12, c22):
    return jnp.ones_like(c11 + c12 + c22)


def linear_i3(c11, c12, c13, c22, c23, c33):
    return c23 + 0.0 * (c11 + c12 + c13 + c22 + c33)


def linear_i4(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44):
    return c34 + 0.0 * (c11 + c12 + c13 + c14 + c22 + c23 + c24 + c33 + c44)


# ---- ReLU ---------------------------------------------------------------------------------
def _corr(c12, c11, c22):
    return jnp.clip(c12 / jnp.maximum(jnp.sqrt(c11 * c22), _TINY), -1.0, 1.0)


def relu_i2(c11, c12, c22):
    norm = _sqrt(c11 * c22)
    cos = _corr(c12, c11, c22)
    theta = jnp.arccos(cos)
    return norm / (2.0 * jnp.pi) * (_sqrt(1.0 - cos**2) + (jnp.pi - theta) * cos)


def relu_j2(c11, c12, c22):
    return 0.25 + _asin(_corr(c12, c11, c22)) / (2.0 * jnp.pi)


def relu_i3(c11, c12, c13, c22, c23, c33):
    del c22
    delta_term = c12 * _sqrt(c11 * c33 - c13**2) / (2.0 * jnp.pi * jnp.maximum(c11, _TINY))
    return delta_term + c23 * relu_j2(c11, c13, c33)


def tanh_sinh(n: int = 61, t_max: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Tanh-sinh nodes and weights on [-1, 1] (step 2 t_max / (n - 1) in the sinh variable)."""
    t = np.linspace(-t_max, t_max, n)
    u = 0.5 * np.pi * np.sinh(t)
    return np.tanh(u), (t[1] - t[0]) * 0.5 * np.pi * np.cosh(t) / np.cosh(u) ** 2


_RULE = tanh_sinh()
_EPS = 1e-10  # relative variance added to every field (see relu_i4)


def _relu_i4_regular(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44, rule):
    r"""<1[a>0] 1[b>0] relu(c) relu(d)> for a positive-definite covariance (fields a, b, c, d).

    Write (c, d, a, b) = L u with L the Cholesky factor in that order and u ~ N(0, I_4), and
    (u1, u2) = r (cos phi, sin phi). Given (r, phi), c = r l_c(phi) and d = r l_d(phi) are fixed
    and (a, b) is Gaussian with mean r (m_a, m_b)(phi) and covariance S (from the last two
    columns of L), so

    .. math::

        I_4 = \frac{1}{2\pi}\int_{\text{arc}} d\phi\, l_c l_d\, H(\phi), \qquad
        H = \int_0^\infty r^3 e^{-r^2/2} F(r)\, dr,\quad F(r) = P(a > 0, b > 0 \mid r, \phi),

    over the arc where l_c, l_d > 0. Integrating by parts in r, H = 2 F(0) + T_a + T_b with
    F(0) = 1/4 + arcsin(rho_S)/(2 pi) and T_a = int (r^2 + 2) e^{-r^2/2} dF_a where dF_a is the
    part of F' from the threshold of a: a Gaussian in r times Phi(gamma r), whose moments
    int r^k e^{-p r^2/2} Phi(gamma r) dr (k = 0, 2) are elementary. With n_a^2 = S_aa + m_a^2,
    D = det S, nu_a = m_b S_aa - m_a S_ab and theta_a = atan2(nu_a, n_a sqrt D):

    .. math::

        T_a = \tfrac12\Big[\Big(\frac{m_a S_{aa}}{n_a^3} + \frac{2 m_a}{n_a}\Big)
              \Big(\tfrac12 + \frac{\theta_a}{\pi}\Big)
              + \frac{m_a \nu_a S_{aa} \sqrt D}{\pi n_a^2 (n_a^2 D + \nu_a^2)}\Big],

    and T_b likewise (a and b swapped). The phi-integrand is smooth on the arc, vanishing at
    its ends (l_c or l_d = 0); a 61-point tanh-sinh rule over the arc converges to ~1e-10,
    also for near-singular covariances (splitting the arc where m_a, m_b change sign was
    tried and bought nothing).
    """
    tiny = 1e-300
    c11, c12, c13, c14, c22, c23, c24, c33, c34, c44 = jnp.broadcast_arrays(
        c11, c12, c13, c14, c22, c23, c24, c33, c34, c44)
    lcc = _sqrt(c33)
    ldc = c34 / lcc
    ldd = _sqrt(c44 - ldc**2)
    lac = c13 / lcc
    lad = (c14 - lac * ldc) / ldd
    laa = _sqrt(c11 - lac**2 - lad**2)
    lbc = c23 / lcc
    lbd = (c24 - lbc * ldc) / ldd
    lba = (c12 - lbc * lac - lbd * lad) / laa
    lbb = _sqrt(c22 - lbc**2 - lbd**2 - lba**2)
    saa, sbb, sab = laa**2, lba**2 + lbb**2, laa * lba
    det = jnp.maximum(saa * sbb - sab**2, 0.0)
    f0 = 0.25 + _asin(sab / jnp.sqrt(saa * sbb)) / (2.0 * jnp.pi)
    # the arc where c > 0 (cos phi > 0) and d > 0 (ldc cos phi + ldd sin phi > 0; ldd >= 0)
    lo = jnp.arctan2(ldd, ldc) - 0.5 * jnp.pi
    hi = jnp.full_like(lo, 0.5 * jnp.pi)
    nodes, weights = (jnp.reshape(jnp.asarray(x), (1,) * lo.ndim + (-1,)) for x in rule)
    phi = 0.5 * (lo + hi)[..., None] + 0.5 * (hi - lo)[..., None] * nodes
    weight = 0.5 * (hi - lo)[..., None] * weights
    cos, sin = jnp.cos(phi), jnp.sin(phi)

    def e(x):
        return x[..., None]

    m_a, m_b = e(lac) * cos + e(lad) * sin, e(lbc) * cos + e(lbd) * sin
    root_det = e(jnp.sqrt(det))

    def threshold_term(m1, m2, s11, s12):
        n2 = s11 + m1**2
        n = jnp.sqrt(n2)
        nu = m2 * s11 - m1 * s12
        theta = jnp.arctan2(nu, n * root_det)
        extra = m1 * nu * s11 * root_det / jnp.maximum(n2 * (n2 * e(det) + nu**2), tiny)
        return 0.5 * ((m1 * s11 / (n * n2) + 2.0 * m1 / n) * (0.5 + theta / jnp.pi)
                      + extra / jnp.pi)

    h = (2.0 * e(f0) + threshold_term(m_a, m_b, e(saa), e(sab))
         + threshold_term(m_b, m_a, e(sbb), e(sab)))
    l_c = jnp.maximum(e(lcc) * cos, 0.0)
    l_d = jnp.maximum(e(ldc) * cos + e(ldd) * sin, 0.0)
    return jnp.sum(l_c * l_d * h * weight, axis=-1) / (2.0 * jnp.pi)


def relu_i4(c11, c12, c13, c14, c22, c23, c24, c33, c34, c44, *, rule=None):
    """ReLU I4 = <1[a>0] 1[b>0] relu(c) relu(d)> for any PSD covariance, ~1e-9 relative.

    The ODE needs it at singular covariances (a student field with itself, a student equal to a
    teacher), where :func:`_relu_i4_regular` meets 0/0. I4 is continuous in C, so it is
    evaluated at C + eps diag(C) (independent noise of relative variance eps on every field)
    for eps = 1e-10 and 4e-10 and extrapolated to eps = 0: the error of the regularised value
    is c1 sqrt(eps) + O(eps) (the sqrt from two indicators of one field), so
    2 I(eps) - I(4 eps) removes the leading term. A field of zero variance gives 0.

    Accuracy, against a 401-point rule on random covariances and on those of students within
    1e-6 to 1e-1 of a teacher: 2e-10 relative with the default 61-point rule; ``rule``
    (nodes, weights on [-1, 1], e.g. :func:`tanh_sinh` with more points) overrides it.
    """
    rule = _RULE if rule is None else rule
    c11, c12, c13, c14, c22, c23, c24, c33, c34, c44 = jnp.broadcast_arrays(
        c11, c12, c13, c14, c22, c23, c24, c33, c34, c44)
    diag = jnp.stack([c11, c22, c33, c44])
    alive = jnp.all(diag > 0, axis=0)
    c11, c22, c33, c44 = (jnp.where(alive, c, 1.0) for c in (c11, c22, c33, c44))

    def regularised(eps):
        return _relu_i4_regular(c11 * (1 + eps), c12, c13, c14, c22 * (1 + eps), c23, c24,
                                c33 * (1 + eps), c34, c44 * (1 + eps), rule)

    return jnp.where(alive, 2.0 * regularised(_EPS) - regularised(4.0 * _EPS), 0.0)


FUNCTIONS = {
    "erf": {"I2": erf_i2, "I3": erf_i3, "I4": erf_i4, "J2": erf_j2},
    "linear": {"I2": linear_i2, "I3": linear_i3, "I4": linear_i4, "J2": linear_j2},
    "relu": {"I2": relu_i2, "I3": relu_i3, "I4": relu_i4, "J2": relu_j2},
}
ACTIVATIONS = tuple(FUNCTIONS)


def has_i4(activation: str) -> bool:
    """Whether the ODE (which needs I4) is available for ``activation``."""
    return "I4" in FUNCTIONS[activation]


def _entries(C, n):
    C = jnp.asarray(C, dtype=jnp.float64)
    if C.shape[-2:] != (n, n):
        raise ValueError(f"expected covariances of shape (..., {n}, {n}), got {C.shape}")
    return [C[..., a, b] for a in range(n) for b in range(a, n)]


def I2(C, activation: str = "erf"):
    """<g(a) g(b)> for covariances ``C`` of shape (..., 2, 2)."""
    return FUNCTIONS[activation]["I2"](*_entries(C, 2))


def J2(C, activation: str = "erf"):
    """<g'(a) g'(b)> for covariances ``C`` of shape (..., 2, 2)."""
    return FUNCTIONS[activation]["J2"](*_entries(C, 2))


def I3(C, activation: str = "erf"):
    """<g'(a) b g(c)> for covariances ``C`` of shape (..., 3, 3)."""
    return FUNCTIONS[activation]["I3"](*_entries(C, 3))


def I4(C, activation: str = "erf"):
    """<g'(a) g'(b) g(c) g(d)> for covariances ``C`` of shape (..., 4, 4)."""
    if not has_i4(activation):
        raise ValueError(f"no I4 for activation '{activation}'")
    return FUNCTIONS[activation]["I4"](*_entries(C, 4))
