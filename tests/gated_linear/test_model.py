"""GDLN graphs, forward pass, path expansion and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.gated_linear import GDLN, GraphError, gated_data, model, theory

# small DAGs with branches and merges (and a skip edge, and two inputs / two outputs)
GRAPHS = [
    ({"x": 3, "a": 4, "b": 5, "y": 2},
     {"xa": ("x", "a"), "xb": ("x", "b"), "ab": ("a", "b"), "ay": ("a", "y"),
      "by": ("b", "y")}),
    ({"x1": 2, "x2": 3, "h": 4, "y1": 3, "y2": 2},
     {"e1": ("x1", "h"), "e2": ("x2", "h"), "f1": ("h", "y1"), "f2": ("h", "y2"),
      "skip": ("x2", "y2")}),
    ({"x": 3, "h1": 4, "h2": 4, "h3": 3, "y": 3},
     {"a": ("x", "h1"), "b": ("x", "h2"), "c": ("h1", "h3"), "d": ("h2", "h3"),
      "e": ("h1", "h2"), "f": ("h3", "y"), "g": ("x", "y")}),
]


def random_problem(nodes, edges, seed, *, P=7, binary=True):
    net = GDLN(nodes, edges)
    rng = np.random.default_rng(seed)
    gate = (lambda: (rng.random(P) < 0.8).astype(float)) if binary else (
        lambda: rng.normal(size=P))
    data = gated_data(
        net,
        x={v: rng.normal(size=(P, nodes[v])) for v in net.inputs},
        y={v: rng.normal(size=(P, nodes[v])) for v in net.outputs},
        node_gates={v: gate() for v in nodes},
        edge_gates={e: gate() for e in edges},
    )
    params = {e: jnp.asarray(rng.normal(size=net.shape(e)) / 2) for e in edges}
    return net, data, params


def test_graph_structure():
    net = GDLN(*GRAPHS[0])
    assert net.inputs == ("x",) and net.outputs == ("y",)
    assert set(net.paths) == {("xa", "ay"), ("xa", "ab", "by"), ("xb", "by")}
    assert net.shape("ab") == (5, 4)


@pytest.mark.parametrize("index", range(len(GRAPHS)))
@pytest.mark.parametrize("binary", [True, False])
def test_path_expansion_equals_forward_pass(index, binary):
    net, data, params = random_problem(*GRAPHS[index], seed=index, binary=binary)
    fwd = model.forward(net, params, data)
    paths = model.path_expansion(net, params, data)
    for v in net.outputs:
        assert np.max(np.abs(fwd[v] - paths[v])) <= 1e-10
    assert any(np.abs(fwd[v]).max() > 0.1 for v in net.outputs)


@pytest.mark.parametrize("index", range(len(GRAPHS)))
@pytest.mark.parametrize("binary", [True, False])
def test_path_gradient_formula_equals_autodiff(index, binary):
    net, data, params = random_problem(*GRAPHS[index], seed=10 + index, binary=binary)
    auto = jax.grad(lambda p: model.loss(net, p, data))(params)
    formula = theory.path_gradient(net, params, data)
    for e in net.edges:
        assert np.max(np.abs(formula[e] + auto[e])) <= 1e-8 * max(1.0, np.abs(auto[e]).max())
    assert max(np.abs(auto[e]).max() for e in net.edges) > 0.1


def test_loss_excludes_gated_off_outputs():
    net = GDLN({"x": 1, "y1": 1, "y2": 1}, {"a": ("x", "y1"), "b": ("x", "y2")})
    data = gated_data(net, x={"x": [[1.0], [1.0]]}, y={"y1": [[2.0], [2.0]],
                                                          "y2": [[5.0], [5.0]]},
                      node_gates={"y2": [1.0, 0.0]})
    params = {"a": jnp.ones((1, 1)), "b": jnp.ones((1, 1))}
    # c = 1/2: 1/2 * 1/2 * (1 + 1 + 16) ; the gated-off y2 of sample 2 is excluded
    assert float(model.loss(net, params, data)) == pytest.approx(18 / 4)


def test_conserved_quantity_under_small_steps():
    net, data, params = random_problem(*GRAPHS[2], seed=3, binary=True)
    grad = jax.jit(jax.grad(lambda p: model.loss(net, p, data)))

    def drift(lr, t=0.5):
        p = dict(params)
        q0 = theory.conserved(net, p)
        for _ in range(int(round(t / lr))):
            g = grad(p)
            p = {e: p[e] - lr * g[e] for e in p}
        q1 = theory.conserved(net, p)
        return max(float(jnp.abs(q1[v] - q0[v]).max()) for v in q0)

    d1, d2 = drift(0.01), drift(0.005)
    # the drift is the O(lr) discretisation error: zero in flow
    assert d1 / d2 == pytest.approx(2.0, abs=0.3)


@pytest.mark.parametrize("nodes, edges, message", [
    ({"x": 2, "y": 2}, {"a": ("x", "z")}, "edge 'a': unknown target node 'z'"),
    ({"x": 2, "h": 2, "y": 2}, {"a": ("x", "h"), "b": ("h", "y"), "c": ("y", "h")},
     "cycle through node"),
    ({"x": 2, "y": 2}, {"a": ("x", "x")}, "edge 'a': a self-loop"),
    ({"x": 0, "y": 2}, {"a": ("x", "y")}, "node 'x': width"),
])
def test_bad_graphs(nodes, edges, message):
    with pytest.raises(GraphError, match=message):
        GDLN(nodes, edges)


def test_bad_data_and_weights():
    net = GDLN({"x": 2, "h": 3, "y": 2}, {"a": ("x", "h"), "b": ("h", "y")})
    x, y = {"x": np.ones((4, 2))}, {"y": np.ones((4, 2))}
    with pytest.raises(GraphError, match="gate of node 'h': expected shape \\(4,\\)"):
        gated_data(net, x, y, node_gates={"h": np.ones((4, 1))})
    with pytest.raises(GraphError, match="gate of edge 'b'"):
        gated_data(net, x, y, edge_gates={"b": np.ones(3)})
    with pytest.raises(GraphError, match="unknown edge 'z'"):
        gated_data(net, x, y, edge_gates={"z": np.ones(4)})
    with pytest.raises(GraphError, match="input of node 'x': expected shape \\(4, 2\\)"):
        gated_data(net, {"x": np.ones((4, 3))}, y)
    with pytest.raises(GraphError, match="'h', which is not an input node"):
        gated_data(net, {"x": np.ones((4, 2)), "h": np.ones((4, 3))}, y)
    with pytest.raises(GraphError, match="target node 'y' has no data"):
        gated_data(net, x, {})
    with pytest.raises(GraphError, match="edge 'b' \\(h -> y\\) needs a 2 x 3 matrix"):
        model.check_params(net, {"a": np.ones((3, 2)), "b": np.ones((2, 4))})
    assert issubclass(GraphError, ConfigError)  # the CLI prints it as one line


def test_gd_through_engine_matches_manual_steps():
    net, data, params = random_problem(*GRAPHS[1], seed=5, binary=True)
    lr, n = 0.05, 20
    rec = model.train(net, data, init=lambda key, args: params, lr=lr,
                      record_at=np.array([0, 10, 20]), seeds=[0, 1])
    grad = jax.grad(lambda p: model.loss(net, p, data))
    p = dict(params)
    for _ in range(n):
        g = grad(p)
        p = {e: p[e] - lr * g[e] for e in p}
    assert rec.values["loss"].shape == (2, 3)
    assert float(rec.values["loss"][1, -1]) == pytest.approx(float(model.loss(net, p, data)),
                                                            rel=1e-12)
