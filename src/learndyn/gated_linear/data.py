r"""The routing task of Saxe, Sodhani & Lewallen (ICML 2022, section 5), as a GDLN.

M input domains and M output domains share one hidden pathway: input domain i has its own input
layer :math:`W_1^{(i)}` (node ``in{i}`` -> ``h1``), the hidden layer :math:`W_2` (``h1`` ->
``h2``) is shared, output domain j has its own output layer :math:`W_3^{(j)}` (``h2`` ->
``out{j}``); pathway (i, j) computes :math:`W_3^{(j)} W_2 W_1^{(i)} x`. Input domain i is
trained with the output domains j = i + o (mod M) for o in ``offsets`` (K = len(offsets)
pathways per domain; the paper's "4_plus_minus_mod" is o in {-1, 0, 1, 2}). A sample of pathway
(i, j) puts item mu on input node i (one-hot, P = 4 items) and its features on output node j;
the node gates switch every other input and output domain off.

Every pathway has the same item -> feature targets Y (rows = items; a small hierarchy):
columns [6,6,6,6], [4,4,0,0], [0,0,4,4] and 3 I_4, so that
:math:`YY^\top = 36 J_4 + 16\,\mathrm{blockdiag}(J_2, J_2) + 9 I_4` and the singular values
of :math:`\Sigma^{yx} = Y^\top` are :math:`(\sqrt{185}, \sqrt{41}, 3, 3)`.

The loss is :math:`L = \sum_{(i,j)\ \mathrm{trained}} \frac{1}{P N_o}\|W_3^{(j)} W_2
W_1^{(i)} - Y^\top\|_F^2` (the mean squared error over the 4 x 7 entries, summed over pathways),
i.e. the GDLN loss with c = 2/(P N_o); natural time is :math:`t = \mathrm{step}\cdot\eta\cdot c`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .model import GDLN, GatedData, gated_data

__all__ = ["LAYERS", "ROUTING_TARGETS", "RoutingTask", "routing_net", "routing_task",
           "trained_mask"]

LAYERS = ("in", "hidden", "out")  # the layers W1 (per input domain), W2 (shared), W3 (per output)

ROUTING_TARGETS = np.concatenate(
    [np.array([[6, 4, 0], [6, 4, 0], [6, 0, 4], [6, 0, 4]], dtype=np.float64),
     3.0 * np.eye(4)], axis=1)  # (items, features) = (4, 7)


class RoutingTask(NamedTuple):
    net: GDLN
    data: GatedData
    trained: np.ndarray  # (M, M) bool: pathway (input i, output j) is trained
    Y: np.ndarray  # (P, N_o) targets of every pathway
    s: np.ndarray  # singular values of Y^T (decreasing)
    time_scale: float  # natural time per unit of step * lr (= c)


def routing_net(M: int, *, n_in: int = 4, n_hidden: int = 64, n_out: int = 7) -> GDLN:
    """Nodes in{i} (n_in), h1, h2 (n_hidden), out{j} (n_out); edges W1_{i}, W2, W3_{j}."""
    nodes = {f"in{i}": n_in for i in range(M)}
    nodes.update(h1=n_hidden, h2=n_hidden)
    nodes.update({f"out{j}": n_out for j in range(M)})
    edges = {f"W1_{i}": (f"in{i}", "h1") for i in range(M)}
    edges["W2"] = ("h1", "h2")
    edges.update({f"W3_{j}": ("h2", f"out{j}") for j in range(M)})
    return GDLN(nodes, edges)


def trained_mask(M: int, offsets: tuple[int, ...]) -> np.ndarray:
    """(M, M) bool: input domain i is trained with output domains (i + o) mod M."""
    mask = np.zeros((M, M), dtype=bool)
    for i in range(M):
        for o in offsets:
            mask[i, (i + o) % M] = True
    return mask


def routing_task(M: int, offsets: tuple[int, ...], *, n_hidden: int = 64,
                 num_samples: int | None = None) -> RoutingTask:
    """The routing task as GDLN data: one sample per (trained pathway, item), padded with
    all-gated-off samples to ``num_samples`` (so tasks of different K share array shapes)."""
    Y = ROUTING_TARGETS
    P, n_out = Y.shape
    net = routing_net(M, n_in=P, n_hidden=n_hidden, n_out=n_out)
    trained = trained_mask(M, offsets)
    pairs = np.argwhere(trained)  # (n_trained, 2), row-major: (i, j)
    n = max(len(pairs) * P, num_samples or 0)
    x = {f"in{i}": np.zeros((n, P)) for i in range(M)}
    y = {f"out{j}": np.zeros((n, n_out)) for j in range(M)}
    gates = {v: np.zeros(n) for v in [f"in{i}" for i in range(M)] + [f"out{j}" for j in range(M)]}
    for k, (i, j) in enumerate(pairs):
        rows = slice(k * P, (k + 1) * P)
        x[f"in{i}"][rows] = np.eye(P)
        y[f"out{j}"][rows] = Y
        gates[f"in{i}"][rows] = 1.0
        gates[f"out{j}"][rows] = 1.0
    c = 2.0 / (P * n_out)
    data = gated_data(net, x, y, node_gates=gates, c=c)
    s = np.linalg.svd(Y.T, compute_uv=False)
    return RoutingTask(net, data, trained, Y, s, c)
