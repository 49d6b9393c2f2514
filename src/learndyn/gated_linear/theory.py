r"""The neural race reduction: exact learning dynamics of gated deep linear networks (float64).

Reference: A. M. Saxe, S. Sodhani, S. J. Lewallen, *The Neural Race Reduction: Dynamics of
Abstraction in Gated Networks*, ICML 2022 (arXiv:2207.10430), sections 3-4.

**Gated correlations.** For paths ``p``, ``j`` of a GDLN (:mod:`.model`), with loss constant c,

.. math:: \Sigma^{yx}(p) = c\sum_\mu g_p^\mu\, y^\mu_{t(p)} x^{\mu\top}_{s(p)}, \qquad
          \Sigma^{x}(j, p) = c\sum_\mu g_j^\mu g_p^\mu\, x^\mu_{s(j)} x^{\mu\top}_{s(p)}.

**Path-gradient formula.** Gradient flow :math:`\tau \dot W_e = -\partial L/\partial W_e` is

.. math:: \tau \dot W_e = \sum_{p \ni e} W_{\bar t(p,e)}^\top \Big[\Sigma^{yx}(p)
          - \sum_{j:\, t(j) = t(p)} W_j \Sigma^x(j, p)\Big] W_{\bar s(p,e)}^\top,

with :math:`W_{\bar s(p,e)}` the product of the weights on ``p`` before ``e`` and
:math:`W_{\bar t(p,e)}` the product after it (:func:`path_gradient`).

**Reduction.** If there are orthogonal bases U_v (output nodes) and V_v (input nodes) with
:math:`\Sigma^{yx}(p) = U_{t(p)} S(p) V_{s(p)}^\top` and
:math:`\Sigma^x(j,p) = V_{s(j)} D(j,p) V_{s(p)}^\top`, S and D diagonal, then weights
:math:`W_e = R_{t(e)} B_e R_{s(e)}^\top` with diagonal B_e keep that form and each mode
:math:`\alpha` obeys the scalar system (:meth:`Reduction.rhs`)

.. math:: \tau \dot b_e = \sum_{p \ni e} \prod_{e' \in p,\, e' \neq e} b_{e'}
          \Big[S_\alpha(p) - \sum_{j:\, t(j) = t(p)} D_\alpha(j,p)\, b_j\Big], \qquad
          b_p = \prod_{e \in p} b_e.

The same substitution makes the reduction exact for gradient descent: one Euler step of this
system per step (:meth:`Reduction.euler`). :func:`reduce` finds the bases by propagating one
input node's eigenbasis along the correlations and *checks* the assumption; when it fails the
reduction says which correlation is not diagonal. The loss in mode form is

.. math:: L = L_{yy} - \sum_{p,\alpha} S_\alpha(p) b_{p\alpha}
          + \tfrac12 \sum_{j,p,\alpha} D_\alpha(j,p) b_{j\alpha} b_{p\alpha}.

**Conservation.** For every hidden node v, :math:`\sum_{e \to v} W_e W_e^\top -
\sum_{v \to e} W_e^\top W_e` is constant under gradient flow, gates or not; in modes
:math:`\sum_{in} b_e^2 - \sum_{out} b_e^2`.

**Routing network** (M input and M output domains, shared hidden layer, K trained pathways per
domain; time :math:`t = \text{epoch}\cdot\eta\cdot 2/(P N_o)`): with b1, b2, b3 the input,
shared and output layers and p = b1 b2 b3,

.. math:: \dot b_1 = K b_2 b_3 (s - p),\quad \dot b_2 = MK b_1 b_3 (s - p),\quad
          \dot b_3 = K b_1 b_2 (s - p),

conserving :math:`b_2^2 - M b_1^2` and :math:`b_1^2 - b_3^2`. From equal init b0,
:math:`b_1^2 = (b_2^2 + c_0)/M` with :math:`c_0 = (M-1) b_0^2`, leaving
:math:`\dot b_2 = K (b_2^2 + c_0)(s - b_2 (b_2^2 + c_0)/M)`, solved implicitly by quadrature
(:func:`routing_time`), with the fixed point :math:`b_2 (b_2^2 + c_0) = M s`.

**Minimal race.** One mode s, a shared path (product u, two balanced layers) active in n
contexts and a private path per context (product v): :math:`\dot u = 2 n u e`,
:math:`\dot v = 2 v e`, :math:`e = s - u - v`, hence :math:`u/u_0 = (v/v_0)^n`.

A single path of depth D active with total weight m behaves like a Saxe mode with time
m t (:func:`single_path_mode`, via :mod:`learndyn.deep_linear.theory`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import quad

from ..core import ode
from ..deep_linear import theory as dl_theory
from .model import GDLN, GatedData, GraphError, path_gates, path_product

__all__ = [
    "Assumption",
    "Reduction",
    "ReductionError",
    "conserved",
    "path_gradient",
    "race_flow",
    "reduce",
    "routing_cases",
    "routing_fixed_point",
    "routing_flow",
    "routing_level",
    "routing_predictions",
    "routing_rhs",
    "routing_time",
    "sigma_x",
    "sigma_yx",
    "single_path_mode",
]


class ReductionError(GraphError):
    """The gated correlations do not share singular vectors: no exact mode reduction."""


# ---- gated correlations and the path-gradient formula --------------------------------------
def sigma_yx(net: GDLN, data: GatedData, path: Sequence[str]) -> np.ndarray:
    """Sigma^yx(p) = c sum_mu g_p y_t(p) x_s(p)^T, shape (n_t, n_s)."""
    g = np.asarray(path_gates(net, data, path))
    y, x = np.asarray(data.y[net.target(path)]), np.asarray(data.x[net.source(path)])
    return float(data.c) * (y * g[:, None]).T @ x


def sigma_x(net: GDLN, data: GatedData, j: Sequence[str], p: Sequence[str]) -> np.ndarray:
    """Sigma^x(j, p) = c sum_mu g_j g_p x_s(j) x_s(p)^T, shape (n_s(j), n_s(p))."""
    g = np.asarray(path_gates(net, data, j)) * np.asarray(path_gates(net, data, p))
    xj, xp = np.asarray(data.x[net.source(j)]), np.asarray(data.x[net.source(p)])
    return float(data.c) * (xj * g[:, None]).T @ xp


def path_gradient(net: GDLN, params: Mapping[str, Any], data: GatedData) -> dict[str, Any]:
    """-dL/dW_e for every edge by the path-gradient formula (equals -jax.grad of the loss)."""
    paths = net.paths
    W = {p: path_product(params, p) for p in paths}
    err = {}
    for p in paths:
        e_p = jnp.asarray(sigma_yx(net, data, p))
        for j in paths:
            if net.target(j) == net.target(p):
                e_p = e_p - W[j] @ jnp.asarray(sigma_x(net, data, j, p))
        err[p] = e_p
    grads = {e: jnp.zeros(net.shape(e)) for e in net.edges}
    for p in paths:
        for k, e in enumerate(p):
            before = (path_product(params, p[:k]) if k else
                      jnp.eye(net.nodes[net.source(p)]))
            after = (path_product(params, p[k + 1:]) if k + 1 < len(p) else
                     jnp.eye(net.nodes[net.target(p)]))
            grads[e] = grads[e] + after.T @ err[p] @ before.T
    return grads


def conserved(net: GDLN, params: Mapping[str, Any]) -> dict[str, Any]:
    """sum_in W W^T - sum_out W^T W at every hidden node (constant under gradient flow)."""
    out = {}
    for v in net.order:
        if net.in_edges[v] and net.out_edges[v]:
            q = sum(params[e] @ params[e].T for e in net.in_edges[v])
            out[v] = q - sum(params[e].T @ params[e] for e in net.out_edges[v])
    return out


# ---- the reduction --------------------------------------------------------------------------
class Assumption(NamedTuple):
    """Whether the gated correlations share singular vectors, and the worst offender."""

    holds: bool
    residual: float  # largest off-diagonal entry in the found bases / largest correlation
    worst: str  # the correlation with the largest off-diagonal part

    def __str__(self) -> str:
        if self.holds:
            return (f"the gated correlations share singular vectors (off-diagonal residual "
                    f"{self.residual:.1e}): the mode reduction is exact")
        return (f"the gated correlations do not share singular vectors: {self.worst} is not "
                f"diagonal in the common bases (off-diagonal {self.residual:.2g} of the largest "
                "correlation); the mode reduction does not apply")


class Reduction:
    """Per-mode scalar dynamics of a GDLN on a task whose gated correlations share bases.

    Attributes:
        net: the graph.
        r: number of modes (the largest input-node width).
        bases: ``{node: (n_v, n_v)}`` orthogonal bases of the input and output nodes (mode
            alpha = column alpha).
        S: (n_paths, r) singular values S_alpha(p); D: (n_paths, n_paths, r) D_alpha(j, p)
            (zero unless t(j) = t(p)).
        assumption: :class:`Assumption`.
    """

    def __init__(self, net, bases, S, D, loss_yy, assumption):
        self.net, self.bases, self.S, self.D = net, bases, S, D
        self.loss_yy, self.assumption = float(loss_yy), assumption
        self.r = S.shape[1]
        self.paths = net.paths
        self.edges = tuple(net.edges)
        self.incidence = np.array([[e in p for e in self.edges] for p in self.paths])
        self.modes = {v: min(n, self.r) for v, n in net.nodes.items()}
        cap = [min(self.modes[s], self.modes[t]) for s, t in net.edges.values()]
        self.mask = np.arange(self.r)[None, :] < np.array(cap)[:, None]  # (E, r)

    # strengths are arrays (E, r) in the order of ``self.edges``
    def strengths(self, b0: float | Mapping[str, Any]) -> np.ndarray:
        """An (E, r) strength array from a number or ``{edge: number or (r,) vector}``."""
        if not isinstance(b0, Mapping):
            b0 = {e: b0 for e in self.edges}
        unknown = set(b0) - set(self.edges)
        if unknown:
            raise GraphError(f"strength given for unknown edge '{sorted(unknown)[0]}'")
        b = np.stack([np.broadcast_to(np.asarray(b0.get(e, 0.0), np.float64), (self.r,))
                      for e in self.edges])
        return np.where(self.mask, b, 0.0)

    def path_strengths(self, b):
        """b_p = prod_{e in p} b_e, shape (..., n_paths, r)."""
        b = jnp.asarray(b)
        shape = b.shape[:-2] + (len(self.paths),) + b.shape[-2:]
        A = jnp.broadcast_to(jnp.asarray(self.incidence)[:, :, None], shape)
        return jnp.prod(jnp.where(A, jnp.broadcast_to(b[..., None, :, :], shape), 1.0), axis=-2)

    def rhs(self, t, b, args=None):
        """d b / dt (tau = 1) for strengths b of shape (E, r)."""
        A = jnp.asarray(self.incidence)
        E = len(self.edges)
        factors = jnp.where(A[:, :, None], b[None], 1.0)  # (p, e', r)
        others = jnp.where(~jnp.eye(E, dtype=bool)[None, :, :, None],
                           factors[:, None, :, :], 1.0).prod(axis=2)  # (p, e, r)
        bp = factors.prod(axis=1)
        err = jnp.asarray(self.S) - jnp.einsum("jpa,ja->pa", jnp.asarray(self.D), bp)
        db = jnp.einsum("pe,pea,pa->ea", A.astype(b.dtype), others, err)
        return jnp.where(jnp.asarray(self.mask), db, 0.0)

    def flow(self, b0, times) -> np.ndarray:
        """Strengths along the gradient flow at ``times`` (t = step * lr), shape (T, E, r)."""
        b0 = self.strengths(b0) if not isinstance(b0, np.ndarray | jax.Array) else b0
        return np.asarray(ode.solve(self.rhs, jnp.asarray(b0), times))

    def euler(self, b0, lr: float, steps: np.ndarray) -> np.ndarray:
        """The discrete reduced map b <- b + lr rhs(b) recorded at ``steps``, shape (T, E, r)."""
        b = jnp.asarray(self.strengths(b0) if not isinstance(b0, np.ndarray | jax.Array)
                        else b0)
        step = jax.jit(lambda b, n: jax.lax.fori_loop(
            0, n, lambda _, x: x + lr * self.rhs(0.0, x), b))
        out, done = [], 0
        for s in np.asarray(steps):
            b = step(b, int(s) - done)
            done = int(s)
            out.append(np.asarray(b))
        return np.stack(out)

    def loss(self, b):
        """L = L_yy - sum S b_p + 1/2 sum D b_j b_p, for b of shape (..., E, r)."""
        bp = self.path_strengths(b)
        quad_ = jnp.einsum("jpa,...ja,...pa->...", jnp.asarray(self.D), bp, bp)
        linear = jnp.einsum("pa,...pa->...", jnp.asarray(self.S), bp)
        return self.loss_yy - linear + 0.5 * quad_

    def conserved(self, b) -> dict[str, Any]:
        """sum_in b_e^2 - sum_out b_e^2 per hidden node and mode, shape (..., r)."""
        b = jnp.asarray(b)
        out = {}
        for v in self.net.order:
            if self.net.in_edges[v] and self.net.out_edges[v]:
                ins = [self.edges.index(e) for e in self.net.in_edges[v]]
                outs = [self.edges.index(e) for e in self.net.out_edges[v]]
                out[v] = (jnp.sum(b[..., ins, :] ** 2, axis=-2)
                          - jnp.sum(b[..., outs, :] ** 2, axis=-2))
        return out

    def io_bases(self) -> dict[str, np.ndarray]:
        """The first min(n_v, r) basis columns of every input and output node."""
        return {v: B[:, : self.modes[v]] for v, B in self.bases.items()}

    def init_params(self, key, b0, *, dtype=jnp.float64):
        """Aligned weights W_e = R_t diag(b_e) R_s^T (hidden R random orthonormal from key)."""
        from .model import init_aligned

        b = self.strengths(b0)
        return init_aligned(key, self.net, self.io_bases(),
                            {e: b[i] for i, e in enumerate(self.edges)}, dtype=dtype)

    def path_modes(self, params, bases=None):
        """u_alpha^T W_p v_alpha for every path and mode, shape (n_paths, r) (jit-friendly;
        pass ``bases = reduction.io_bases()`` as arrays inside a compiled function)."""
        bases = self.io_bases() if bases is None else bases
        rows = []
        for p in self.paths:
            U, V = bases[self.net.target(p)], bases[self.net.source(p)]
            k = min(U.shape[1], V.shape[1])
            W = path_product(params, p)
            d = jnp.einsum("oa,oi,ia->a", U[:, :k].astype(W.dtype), W, V[:, :k].astype(W.dtype))
            rows.append(jnp.concatenate([d, jnp.zeros(self.r - k, W.dtype)]))
        return jnp.stack(rows)


def _links(net, yx, xx):
    """(a, b, M): node b's mode columns follow from node a's as M @ col (one per correlation)."""
    links = []
    for p, M in yx.items():
        links += [(net.source(p), net.target(p), M), (net.target(p), net.source(p), M.T)]
    for (j, p), M in xx.items():
        a, b = net.source(j), net.source(p)
        if a != b:
            links += [(a, b, M.T), (b, a, M)]
    return links


def _gram(net, v, yx, xx, weights):
    """A generic symmetric matrix that every correlation on node v diagonalises."""
    n = net.nodes[v]
    G = np.zeros((n, n))
    k = 0
    for p, M in yx.items():
        for node, X in ((net.source(p), M.T @ M), (net.target(p), M @ M.T)):
            if node == v:
                G += weights[k % len(weights)] * X
                k += 1
    for (j, p), M in xx.items():
        if net.source(j) == v and net.source(p) == v:
            G += weights[k % len(weights)] * 0.5 * (M + M.T)
            k += 1
        elif net.source(j) == v:
            G += weights[k % len(weights)] * M @ M.T
            k += 1
        elif net.source(p) == v:
            G += weights[k % len(weights)] * M.T @ M
            k += 1
    return G


def _find_bases(net, yx, xx, scale):
    weights = np.random.default_rng(0).uniform(1.0, 2.0, size=257)
    io = [v for v in net.order if v in net.inputs or v in net.outputs]
    tol = 1e-9 * scale
    links = [(a, b, M) for a, b, M in _links(net, yx, xx) if np.abs(M).max() > tol]
    bases: dict[str, np.ndarray] = {}
    while len(bases) < len(io):
        # next node: the unbased one with the most links from based nodes, else a new start
        cand = [(sum(a in bases for a, b, _ in links if b == v), v) for v in io
                if v not in bases]
        count, v = max(cand, key=lambda c: (c[0], -io.index(c[1])))
        n = net.nodes[v]
        G = _gram(net, v, yx, xx, weights)
        if count == 0:  # start of a component: eigenbasis of the generic Gram matrix
            vals, vecs = np.linalg.eigh(G)
            bases[v] = vecs[:, np.argsort(-vals, kind="stable")]
            continue
        cols = np.zeros((n, n))
        for k, (a, b, M) in enumerate(links):
            if b == v and a in bases:
                m = min(n, net.nodes[a])
                cols[:, :m] += weights[k % len(weights)] * (M @ bases[a][:, :m])
        norms = np.linalg.norm(cols, axis=0)
        keep = norms > tol
        Q = np.zeros((n, n))
        if keep.any():
            q, _ = np.linalg.qr(cols[:, keep] / norms[keep])
            signs = np.sign(np.sum(q * cols[:, keep], axis=0))
            Q[:, keep] = q * np.where(signs == 0, 1.0, signs)
        free = int(n - keep.sum())
        if free:
            Pc = np.eye(n) - Q[:, keep] @ Q[:, keep].T
            vals, vecs = np.linalg.eigh(Pc @ (G + scale * np.eye(n)) @ Pc)
            Q[:, ~keep] = vecs[:, np.argsort(-vals, kind="stable")[:free]]
        bases[v] = Q
    return bases


def reduce(net: GDLN, data: GatedData, *, strict: bool = True, rtol: float = 1e-8) -> Reduction:
    """The per-mode reduction of ``net`` trained on ``data`` (see the module docstring).

    Args:
        strict: raise :class:`ReductionError` when the shared-singular-vector assumption fails;
            otherwise return the reduction with ``assumption.holds = False``.
        rtol: off-diagonal tolerance relative to the largest correlation.
    """
    paths = net.paths
    yx = {p: sigma_yx(net, data, p) for p in paths}
    xx = {(j, p): sigma_x(net, data, j, p) for p in paths for j in paths
          if net.target(j) == net.target(p)}
    scale = max([np.abs(M).max() for M in (*yx.values(), *xx.values())] + [1e-300])
    bases = _find_bases(net, yx, xx, scale)
    r = max(net.nodes[v] for v in net.inputs)
    S = np.zeros((len(paths), r))
    D = np.zeros((len(paths), len(paths), r))
    worst, residual = "", 0.0
    index = {p: i for i, p in enumerate(paths)}

    def diag_part(M, what):
        nonlocal worst, residual
        k = min(M.shape)
        off = M.copy()
        off[np.arange(k), np.arange(k)] = 0.0
        res = float(np.abs(off).max(initial=0.0)) / scale
        if res > residual:
            residual, worst = res, what
        return np.diag(M)[:r]

    for p, M in yx.items():
        d = diag_part(bases[net.target(p)].T @ M @ bases[net.source(p)],
                      f"Sigma_yx of path {net.describe_path(p)}")
        S[index[p], : len(d)] = d
    for (j, p), M in xx.items():
        d = diag_part(bases[net.source(j)].T @ M @ bases[net.source(p)],
                      f"Sigma_x of paths {net.describe_path(j)} and {net.describe_path(p)}")
        D[index[j], index[p], : len(d)] = d
    assumption = Assumption(residual <= rtol, residual, worst)
    if strict and not assumption.holds:
        raise ReductionError(str(assumption))
    loss_yy = 0.0
    for v in net.outputs:
        active = np.asarray(data.node_gates[v]) != 0
        loss_yy += 0.5 * float(data.c) * float(np.sum(np.asarray(data.y[v])[active] ** 2))
    return Reduction(net, bases, S, D, loss_yy, assumption)


def single_path_mode(s, u0, times, *, depth: int, multiplicity: float = 1.0):
    """A mode carried by one balanced path of ``depth`` layers whose correlations are the
    whitened s and 1 weighted by ``multiplicity`` m: u(t) is the Saxe solution at time m t
    (:func:`learndyn.deep_linear.theory.mode_deep`)."""
    times = np.asarray(times, np.float64)
    return dl_theory.mode_deep(s, u0, multiplicity * times, depth=depth)


# ---- the routing network --------------------------------------------------------------------
def routing_rhs(t, b, args):
    """(db1, db2, db3)/dt = (K b2 b3, MK b1 b3, K b1 b2)(s - b1 b2 b3); ``args = (s, M, K)``."""
    s, M, K = args
    b1, b2, b3 = b[0], b[1], b[2]
    e = s - b1 * b2 * b3
    return jnp.stack([K * b2 * b3 * e, M * K * b1 * b3 * e, K * b1 * b2 * e])


def _scaled_rhs(tau, b, args):
    s, M, K, T = args
    return T[None] * routing_rhs(tau, b, (s, M, K))


def routing_cases(s, K, t_end, b0: float, fractions, *, M: int) -> np.ndarray:
    """Many routing flows in one solve: case c (singular value s_c, K_c) is integrated from
    equal init b0 to the times ``fractions * t_end_c``; returns shape (F, 3, cases)."""
    s, K, t_end = (np.broadcast_to(np.asarray(a, np.float64), np.shape(s)) for a in (s, K, t_end))
    y0 = jnp.full((3,) + s.shape, b0, dtype=jnp.float64)
    args = tuple(jnp.asarray(a, jnp.float64) for a in (s, float(M), K, t_end))
    return np.asarray(ode.solve(_scaled_rhs, y0, np.asarray(fractions, np.float64), args=args))


def routing_flow(s, b0: float, times, *, M: int, K: int) -> np.ndarray:
    """(b1, b2, b3) at ``times`` (starting at 0) for every s (equal init b0), shape
    (T, 3, len(s))."""
    times = np.asarray(times, np.float64)
    s = np.atleast_1d(np.asarray(s, np.float64))
    return routing_cases(s, K, times[-1], b0, times / times[-1], M=M)


def routing_level(s: float, b0: float, frac: float, *, M: int) -> float:
    """b2 at which the product reaches p = frac * s from equal init b0: the positive root of
    b2 (b2^2 + c0) = frac M s, c0 = (M - 1) b0^2."""
    c0 = (M - 1) * b0**2
    roots = np.roots([1.0, 0.0, c0, -frac * M * s])
    return float(max(x.real for x in roots if abs(x.imag) < 1e-9 and x.real > 0))


def routing_fixed_point(s: float, b0: float, *, M: int) -> tuple[float, float]:
    """(b1*, b2*): the positive root of b2 (b2^2 + c0) = M s, b1* = sqrt((b2*^2 + c0)/M)."""
    b2 = routing_level(s, b0, 1.0, M=M)
    return float(np.sqrt((b2**2 + (M - 1) * b0**2) / M)), b2


def routing_time(s: float, b0: float, b2: float, *, M: int, K: int) -> float:
    """t(b2) = (1/K) int_{b0}^{b2} dx / ((x^2 + c0)(s - x (x^2 + c0)/M)) (implicit solution)."""
    c0 = (M - 1) * b0**2
    value, _ = quad(lambda x: 1.0 / ((x * x + c0) * (s - x * (x * x + c0) / M)), b0, b2,
                    epsabs=0.0, epsrel=1e-12, limit=400)
    return value / K


def routing_predictions(s, b0: float, times, *, M: int, K: int, ks: Sequence[int]) -> dict:
    """What the routing reduction predicts, from equal init b0, every flow in one ODE solve.

    Args:
        s: the task's singular values (modes); times: the record grid (t = step * lr * c).
        K: trained pathways per domain; ks: the K-scan.

    Returns:
        ``flow`` (time, layer, mode): (b1, b2, b3) on ``times``; ``fixed_point`` (mode, 2):
        (b1*, b2*); ``level_b2`` (mode, 2): b2 at p = s/2 and at 0.9 b2*; ``level_time``
        (mode, 2): their implicit-solution times :func:`routing_time`; ``level_b2_flow``
        (mode, 2): the integrated flow's b2 at those times; ``k_ratio`` (K, mode): p/s of the
        flow at K = k and time t_1/2(K_max) K_max/k (1/2 exactly when speed is proportional to
        K); ``fixed_flow_b2`` (mode): b2 of the flow at 4 times[-1].
    """
    s, times = np.asarray(s, np.float64), np.asarray(times, np.float64)
    r, kmax = len(s), max(ks)
    fixed = np.array([routing_fixed_point(sa, b0, M=M) for sa in s])
    levels = np.array([[routing_level(sa, b0, 0.5, M=M), 0.9 * fixed[a, 1]]
                       for a, sa in enumerate(s)])
    level_t = np.array([[routing_time(sa, b0, b, M=M, K=K) for b in row]
                        for sa, row in zip(s, levels)])
    t_ref = np.array([routing_time(sa, b0, levels[a, 0], M=M, K=kmax) for a, sa in enumerate(s)])
    cases = [(s, K, times[-1])]  # the flow on the record grid
    cases += [(s, K, level_t[:, 0]), (s, K, level_t[:, 1])]  # the implicit solution
    cases += [(s, k, t_ref * kmax / k) for k in ks]  # race: speed ~ K
    cases += [(s, K, 4.0 * times[-1])]  # the fixed point
    sol = routing_cases(np.concatenate([c[0] for c in cases]),
                        np.concatenate([np.broadcast_to(c[1], (r,)) for c in cases]),
                        np.concatenate([np.broadcast_to(c[2], (r,)) for c in cases]),
                        b0, times / times[-1], M=M)
    ends = sol[-1].reshape(3, len(cases), r)  # (layer, case, mode) at the end times
    return {"flow": sol[:, :, :r], "fixed_point": fixed, "level_b2": levels,
            "level_time": level_t, "level_b2_flow": ends[1, 1:3].T,
            "k_ratio": ends.prod(axis=0)[3:3 + len(ks)] / s, "fixed_flow_b2": ends[1, -1]}


# ---- the minimal race ------------------------------------------------------------------------
def race_flow(s: float, u0: float, v0: float, times, *, n: int) -> np.ndarray:
    """(u, v) of the minimal race at ``times``, shape (T, 2)."""

    def rhs(t, y, args):
        e = s - y[0] - y[1]
        return jnp.stack([2.0 * n * y[0] * e, 2.0 * y[1] * e])

    return np.asarray(ode.solve(rhs, jnp.array([u0, v0]), times, rtol=1e-12, atol=1e-20))
