r"""Gated deep linear networks (GDLNs): a graph of linear layers with per-sample gates.

Reference: A. M. Saxe, S. Sodhani, S. J. Lewallen, *The Neural Race Reduction: Dynamics of
Abstraction in Gated Networks*, ICML 2022 (arXiv:2207.10430), section 2.

A GDLN is a directed acyclic graph. Node ``v`` holds an activity :math:`h_v \in R^{n_v}`; edge
``e`` from :math:`s(e)` to :math:`t(e)` carries :math:`W_e \in R^{n_{t(e)} \times n_{s(e)}}`.
Nodes without incoming edges are *input* nodes, nodes without outgoing edges *output* nodes.
Every sample :math:`\mu` comes with scalar gates :math:`g_v^\mu` (nodes) and :math:`g_e^\mu`
(edges), supplied as data. The forward pass is

.. math:: h_v = g_v x_v \ (\text{input } v), \qquad
          h_v = g_v \sum_{e:\, t(e) = v} g_e W_e h_{s(e)} \ (\text{otherwise}),

and the outputs expand over paths :math:`p = (e_1, \dots, e_L)` from an input to an output,

.. math:: \hat y_v = \sum_{p:\, t(p) = v} g_p W_p x_{s(p)}, \qquad
          W_p = W_{e_L} \cdots W_{e_1},

with :math:`g_p` the product of the gates of every edge and node on ``p`` (endpoints included).
The loss sums the squared error of the active (non-zero-gated) output nodes,

.. math:: L = \frac{c}{2} \sum_\mu \sum_{v:\, g_v^\mu \neq 0} \| y_v^\mu - \hat y_v^\mu \|^2,

with a reduction constant ``c`` (default 1/P, the mean over samples). Gated-off outputs are
constant in the weights, so excluding them does not change the gradient.

Weights are a dict ``{edge: W_e}``; data a :class:`GatedData` (a pytree, usable inside ``jit``).
:func:`train` runs full-batch gradient descent through :func:`learndyn.core.engine.simulate`
(vmapped over seeds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..core.config import ConfigError
from ..core.engine import Recording, TrainState, gradient_step, simulate

__all__ = [
    "GDLN",
    "GatedData",
    "GraphError",
    "check_params",
    "forward",
    "gated_data",
    "init_aligned",
    "init_random",
    "loss",
    "path_expansion",
    "path_gates",
    "path_product",
    "train",
]

Params = dict[str, jax.Array]


class GraphError(ConfigError):
    """An invalid GDLN graph, weight or data array (the message names the node or edge)."""


class GDLN:
    """The graph of a gated deep linear network.

    Args:
        nodes: ``{name: width}``.
        edges: ``{name: (source, target)}``; the weight of edge ``e`` has shape
            ``(nodes[target], nodes[source])``.

    Raises:
        GraphError: a non-positive width, an edge naming an unknown node, a self-loop, or a
            cycle (the message names the edge or a node on the cycle).

    >>> net = GDLN({"x": 3, "h": 8, "y": 2}, {"W1": ("x", "h"), "W2": ("h", "y")})
    >>> net.inputs, net.outputs, net.paths
    (('x',), ('y',), (('W1', 'W2'),))
    """

    def __init__(self, nodes: Mapping[str, int], edges: Mapping[str, tuple[str, str]]):
        self.nodes: dict[str, int] = {}
        for name, width in dict(nodes).items():
            if isinstance(width, bool) or not isinstance(width, int | np.integer) or width < 1:
                raise GraphError(f"node '{name}': width must be a positive integer, got {width!r}")
            self.nodes[str(name)] = int(width)
        self.edges: dict[str, tuple[str, str]] = {}
        for name, ends in dict(edges).items():
            if not isinstance(ends, tuple | list) or len(ends) != 2:
                raise GraphError(f"edge '{name}': must be a pair (source, target), got {ends!r}")
            src, dst = (str(n) for n in ends)
            for role, node in (("source", src), ("target", dst)):
                if node not in self.nodes:
                    raise GraphError(f"edge '{name}': unknown {role} node '{node}'; nodes are: "
                                     + ", ".join(self.nodes))
            if src == dst:
                raise GraphError(f"edge '{name}': a self-loop on node '{src}' makes a cycle")
            self.edges[str(name)] = (src, dst)
        if not self.edges:
            raise GraphError("a GDLN needs at least one edge")
        self.in_edges = {v: tuple(e for e, (_, t) in self.edges.items() if t == v)
                         for v in self.nodes}
        self.out_edges = {v: tuple(e for e, (s, _) in self.edges.items() if s == v)
                          for v in self.nodes}
        self.order = self._topological_order()
        self.inputs = tuple(v for v in self.order if not self.in_edges[v])
        self.outputs = tuple(v for v in self.order if not self.out_edges[v])
        self.paths = self._enumerate_paths()
        self._key = (tuple(self.nodes.items()), tuple(self.edges.items()))

    def _topological_order(self) -> tuple[str, ...]:
        indegree = {v: len(self.in_edges[v]) for v in self.nodes}
        ready = [v for v in self.nodes if indegree[v] == 0]
        order = []
        while ready:
            v = ready.pop(0)
            order.append(v)
            for e in self.out_edges[v]:
                t = self.edges[e][1]
                indegree[t] -= 1
                if indegree[t] == 0:
                    ready.append(t)
        if len(order) < len(self.nodes):
            stuck = [v for v in self.nodes if v not in order]
            cycle_edge = next(e for e, (s, t) in self.edges.items() if s in stuck and t in stuck)
            raise GraphError(f"the graph has a cycle through node '{stuck[0]}' (edge "
                             f"'{cycle_edge}'); a GDLN must be acyclic")
        return tuple(order)

    def _enumerate_paths(self) -> tuple[tuple[str, ...], ...]:
        paths: list[tuple[str, ...]] = []

        def extend(node: str, prefix: tuple[str, ...]) -> None:
            if not self.out_edges[node]:
                paths.append(prefix)
            for e in self.out_edges[node]:
                extend(self.edges[e][1], prefix + (e,))

        for v in self.inputs:
            extend(v, ())
        return tuple(paths)

    def source(self, path: Sequence[str]) -> str:
        return self.edges[path[0]][0]

    def target(self, path: Sequence[str]) -> str:
        return self.edges[path[-1]][1]

    def path_nodes(self, path: Sequence[str]) -> tuple[str, ...]:
        return (self.source(path),) + tuple(self.edges[e][1] for e in path)

    def shape(self, edge: str) -> tuple[int, int]:
        src, dst = self.edges[edge]
        return self.nodes[dst], self.nodes[src]

    def describe_path(self, path: Sequence[str]) -> str:
        return " -> ".join(self.path_nodes(path)) + " [" + ", ".join(path) + "]"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GDLN) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"GDLN(nodes={self.nodes}, edges={self.edges})"


class GatedData(NamedTuple):
    """Samples of a GDLN task: inputs, targets, gates (all with a leading sample axis P).

    ``x[v]`` (P, n_v) for every input node, ``y[v]`` (P, n_v) for every output node,
    ``node_gates[v]`` and ``edge_gates[e]`` (P,) for every node and edge, ``c`` the loss
    reduction constant. Build it with :func:`gated_data`, which checks every shape.
    """

    x: dict[str, Any]
    y: dict[str, Any]
    node_gates: dict[str, Any]
    edge_gates: dict[str, Any]
    c: Any

    @property
    def num_samples(self) -> int:
        return int(np.shape(next(iter(self.node_gates.values())))[0])


def gated_data(net: GDLN, x: Mapping[str, Any], y: Mapping[str, Any], *,
               node_gates: Mapping[str, Any] | None = None,
               edge_gates: Mapping[str, Any] | None = None,
               c: float | None = None) -> GatedData:
    """Check shapes and build :class:`GatedData` (float64 numpy); missing gates are 1.

    Raises:
        GraphError: a key that is not an input node (``x``), output node (``y``), node or edge
            (gates); a missing input or target; an array of the wrong shape (named).
    """
    x, y = dict(x), dict(y)
    node_gates, edge_gates = dict(node_gates or {}), dict(edge_gates or {})
    for v in x:
        if v not in net.inputs:
            raise GraphError(f"input given for node '{v}', which is not an input node; "
                             "input nodes are: " + ", ".join(net.inputs))
    for v in y:
        if v not in net.outputs:
            raise GraphError(f"target given for node '{v}', which is not an output node; "
                             "output nodes are: " + ", ".join(net.outputs))
    for v in node_gates:
        if v not in net.nodes:
            raise GraphError(f"node gate given for unknown node '{v}'")
    for e in edge_gates:
        if e not in net.edges:
            raise GraphError(f"edge gate given for unknown edge '{e}'")
    for kind, given, names in (("input", x, net.inputs), ("target", y, net.outputs)):
        for v in names:
            if v not in given:
                raise GraphError(f"{kind} node '{v}' has no data; give {kind}s for: "
                                 + ", ".join(names))
    first = next(iter(x.values()))
    P = int(np.shape(first)[0]) if np.ndim(first) >= 1 else 0
    if P < 1:
        raise GraphError(f"input of node '{net.inputs[0]}' must have shape (P, n) with P >= 1")

    def array(value, shape, what):
        a = np.asarray(value, dtype=np.float64)
        if a.shape != shape:
            raise GraphError(f"{what}: expected shape {shape}, got {a.shape}")
        return a

    xs = {v: array(x[v], (P, net.nodes[v]), f"input of node '{v}'") for v in net.inputs}
    ys = {v: array(y[v], (P, net.nodes[v]), f"target of node '{v}'") for v in net.outputs}
    ng = {v: array(node_gates.get(v, np.ones(P)), (P,), f"gate of node '{v}'")
          for v in net.nodes}
    eg = {e: array(edge_gates.get(e, np.ones(P)), (P,), f"gate of edge '{e}'")
          for e in net.edges}
    c = 1.0 / P if c is None else float(c)
    if not c > 0:
        raise GraphError(f"loss constant c must be positive, got {c}")
    return GatedData(xs, ys, ng, eg, np.float64(c))


def check_params(net: GDLN, params: Mapping[str, Any]) -> None:
    """Raise :class:`GraphError` naming the edge if a weight is missing or misshapen."""
    for e in net.edges:
        if e not in params:
            raise GraphError(f"edge '{e}' has no weight matrix")
        if tuple(np.shape(params[e])) != net.shape(e):
            src, dst = net.edges[e]
            raise GraphError(f"edge '{e}' ({src} -> {dst}) needs a {net.shape(e)[0]} x "
                             f"{net.shape(e)[1]} matrix, got shape {tuple(np.shape(params[e]))}")
    extra = set(params) - set(net.edges)
    if extra:
        raise GraphError(f"weight given for unknown edge '{sorted(extra)[0]}'")


def forward(net: GDLN, params: Params, data: GatedData) -> dict[str, jax.Array]:
    """Output activities ``{output node: (P, n_v)}`` by the gated forward pass."""
    dtype = next(iter(params.values())).dtype
    h: dict[str, jax.Array] = {}
    for v in net.order:
        if not net.in_edges[v]:
            a = jnp.asarray(data.x[v], dtype)
        else:
            a = sum(jnp.asarray(data.edge_gates[e], dtype)[:, None]
                    * (h[net.edges[e][0]] @ params[e].T) for e in net.in_edges[v])
        h[v] = jnp.asarray(data.node_gates[v], dtype)[:, None] * a
    return {v: h[v] for v in net.outputs}


def path_product(params: Mapping[str, Any], path: Sequence[str]):
    """W_p = W_{e_L} ... W_{e_1}."""
    out = params[path[0]]
    for e in path[1:]:
        out = params[e] @ out
    return out


def path_gates(net: GDLN, data: GatedData, path: Sequence[str]):
    """g_p per sample: the product of every edge and node gate on the path, shape (P,)."""
    g = data.node_gates[net.source(path)]
    for e in path:
        g = g * data.edge_gates[e] * data.node_gates[net.edges[e][1]]
    return g


def path_expansion(net: GDLN, params: Params, data: GatedData) -> dict[str, jax.Array]:
    """Outputs as the sum over paths, y_v = sum_p g_p W_p x_{s(p)} (equals :func:`forward`)."""
    out = {v: 0.0 for v in net.outputs}
    for p in net.paths:
        W = path_product(params, p)
        g = jnp.asarray(path_gates(net, data, p), W.dtype)
        out[net.target(p)] = out[net.target(p)] + g[:, None] * (
            jnp.asarray(data.x[net.source(p)], W.dtype) @ W.T)
    return out


def loss(net: GDLN, params: Params, data: GatedData) -> jax.Array:
    """L = (c/2) sum_mu sum_{active outputs v} ||y_v - yhat_v||^2."""
    dtype = next(iter(params.values())).dtype
    out = forward(net, params, data)
    total = jnp.zeros((), dtype)
    for v in net.outputs:
        active = (jnp.asarray(data.node_gates[v]) != 0).astype(dtype)
        residual = jnp.asarray(data.y[v], dtype) - out[v]
        total = total + jnp.sum(active[:, None] * residual**2)
    return 0.5 * jnp.asarray(data.c, dtype) * total


@cache
def loss_fn(net: GDLN) -> Callable[[Params, GatedData], jax.Array]:
    """``loss(params, data)`` for one graph (cached, so compiled programs are re-used)."""
    return lambda params, data: loss(net, params, data)


def init_aligned(key: jax.Array, net: GDLN, bases: Mapping[str, Any],
                 strengths: Mapping[str, Any], *, dtype=jnp.float64) -> Params:
    """Aligned weights W_e = R_t diag(b_e) R_s^T (Saxe et al. 2022, decoupled initial conditions).

    ``bases[v]`` (n_v, r_v) are the orthonormal mode bases of the input and output nodes
    (from :func:`learndyn.gated_linear.theory.reduce`); hidden nodes get random orthonormal
    columns drawn from ``key``. ``strengths[e]`` is a vector of per-mode values b_e (modes
    beyond an edge's capacity are dropped).
    """
    R = dict(bases)
    hidden = [v for v in net.order if v not in R]
    r = max(np.shape(b)[1] for b in bases.values())
    shapes = [(net.nodes[v], min(net.nodes[v], r)) for v in hidden]
    sizes = [a * b for a, b in shapes]
    noise = jax.random.normal(key, (sum(sizes),), dtype=jnp.float64)  # one draw: fast compile
    start = 0
    for v, shape, size in zip(hidden, shapes, sizes):
        q, _ = jnp.linalg.qr(noise[start:start + size].reshape(shape))
        R[v] = q
        start += size
    params = {}
    for e, (src, dst) in net.edges.items():
        k = min(R[src].shape[1], R[dst].shape[1])
        b = jnp.asarray(strengths[e], jnp.float64)[:k]
        params[e] = ((R[dst][:, :k] * b[None, :]) @ R[src][:, :k].T).astype(dtype)
    return params


def init_random(key: jax.Array, net: GDLN, *, scale: float, orthogonal: bool = False,
                dtype=jnp.float64) -> Params:
    """Independent random weights per edge: Gaussian N(0, scale^2/n_s), or, with
    ``orthogonal``, ``scale`` times a Haar matrix with orthonormal rows or columns (edges of
    one shape share one batched QR, which keeps compilation fast)."""
    groups: dict[tuple[int, int], list[str]] = {}
    for e in net.edges:
        groups.setdefault(net.shape(e), []).append(e)
    sizes = [len(names) * n_t * n_s for (n_t, n_s), names in groups.items()]
    noise = jax.random.normal(key, (sum(sizes),), dtype=jnp.float64)  # one draw: fast compile
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    params = {}
    for k, ((n_t, n_s), names) in enumerate(groups.items()):
        g = noise[offsets[k]:offsets[k + 1]].reshape(
            len(names), max(n_t, n_s), min(n_t, n_s))
        if orthogonal:
            q, r = jnp.linalg.qr(g)
            w = q * jnp.sign(jnp.diagonal(r, axis1=-2, axis2=-1))[:, None, :]
        else:
            w = g / np.sqrt(n_s)
        for i, e in enumerate(names):
            params[e] = (scale * (w[i] if n_t >= n_s else w[i].T)).astype(dtype)
    return params


_SGD = optax.inject_hyperparams(optax.sgd)(learning_rate=0.0)


@cache
def _gd_step(net: GDLN):
    return gradient_step(lambda params, args: loss(net, params, args["data"]), _SGD)


@cache
def _programs(net: GDLN, make_init: Callable, observe: Callable | None):
    def init(key, args):
        params = make_init(key, args)
        dtype = next(iter(params.values())).dtype
        opt = optax.inject_hyperparams(optax.sgd)(learning_rate=args["lr"].astype(dtype))
        return TrainState(params, opt.init(params))

    def obs(state, args):
        out = {"loss": loss(net, state.params, args["data"])}
        if observe is not None:
            out.update(observe(state.params, args))
        return out

    return init, obs


def train(net: GDLN, data: GatedData, *, init: Callable[[jax.Array, dict], Params],
          lr: float, record_at: np.ndarray, seeds: Sequence[int],
          observe: Callable[[Params, dict], dict] | None = None, extra: Mapping | None = None,
          progress=None, label: str = "", batched: bool = False) -> Recording:
    """Full-batch gradient descent W <- W - lr dL/dW for every seed (vmapped, compiled once).

    Args:
        init: ``init(key, args) -> params`` (pass a module-level function or keep the same
            object so the compiled program is re-used); ``args`` holds ``data``, ``lr`` and the
            entries of ``extra``.
        record_at: step counts to record (from :func:`learndyn.core.engine.record_steps`).
        observe: ``observe(params, args) -> {name: array}`` recorded beside ``loss``.
        batched: ``data``, ``lr`` and ``extra`` carry a leading axis of B runs (vmapped,
            see :func:`learndyn.core.engine.simulate`).

    Returns:
        The engine's :class:`~learndyn.core.engine.Recording` (``values["loss"]`` etc.).
    """
    step = _gd_step(net)
    init_fn, obs = _programs(net, init, observe)
    args = {"data": jax.tree.map(jnp.asarray, data), "lr": jnp.asarray(lr, jnp.float64),
            **dict(extra or {})}
    return simulate(init_fn, step, obs, seeds=seeds, record_at=record_at, args=args,
                    progress=progress, label=label, batched=batched)
