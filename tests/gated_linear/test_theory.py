"""The neural race reduction against simulation, integration and quadrature (float64)."""

import jax
import numpy as np
import pytest

from learndyn.gated_linear import GDLN, ReductionError, compare, data, gated_data, reduce, theory


def context_net():
    """Branches, a merge and a skip edge; two contexts gate different hidden nodes."""
    net = GDLN({"x": 3, "h1": 5, "h2": 4, "y": 3},
               {"a": ("x", "h1"), "b": ("x", "h2"), "c": ("h1", "h2"), "d": ("h2", "y"),
                "skip": ("x", "y")})
    ctx = np.repeat([1.0, 0.0], 3)
    d = gated_data(net, x={"x": np.vstack([np.eye(3)] * 2)},
                   y={"y": np.vstack([np.diag([3.0, 2.0, 1.0])] * 2)},
                   node_gates={"h1": ctx}, edge_gates={"skip": 1.0 - ctx})
    return net, d


def test_discrete_reduced_map_equals_gradient_descent():
    net, d = context_net()
    ds = compare(net, d, b0=0.1, lr=0.1, steps=300, seeds=[0, 1], num_records=31)
    scale = np.abs(ds.path_strength_map).max()
    assert float(np.abs(ds.path_strength_sim - ds.path_strength_map).max()) <= 1e-10 * scale
    rel = np.abs(ds.loss_sim / ds.loss_map - 1.0)
    assert float(rel.max()) <= 1e-9
    assert float(ds.loss_sim[0, -1] / ds.loss_sim[0, 0]) < 1e-3  # it did learn
    # gradient descent approximates the flow to O(lr)
    gap = float(np.abs(ds.path_strength_map - ds.path_strength_theory).max())
    assert 1e-4 * scale < gap < 0.05 * scale


def test_reduced_flow_conserves_and_reaches_a_minimum():
    net, d = context_net()
    red = reduce(net, d)
    b = red.flow(0.1, np.linspace(0.0, 300.0, 61))
    for v, q in red.conserved(b).items():
        assert np.max(np.abs(q - q[:1])) <= 1e-9 * max(1.0, np.abs(q).max()), v
    assert float(red.loss(b[-1])) == pytest.approx(0.0, abs=1e-9)


def test_single_path_is_a_saxe_mode_with_scaled_time():
    net = GDLN({"x": 3, "h": 4, "y": 3}, {"W1": ("x", "h"), "W2": ("h", "y")})
    on = np.repeat([1.0, 0.0], 3)  # the path is on for half of the samples
    d = gated_data(net, x={"x": np.vstack([np.eye(3)] * 2)},
                   y={"y": np.vstack([np.diag([3.0, 2.0, 1.0])] * 2)}, node_gates={"h": on})
    red = reduce(net, d)
    times = np.linspace(0.0, 30.0, 61)
    u = np.asarray(red.path_strengths(red.flow(0.03, times)))[:, 0]
    m = 1.0 / 6.0  # c = 1/6: S = m s and D = m (each item once among the gated-on samples)
    saxe = theory.single_path_mode(np.array([3.0, 2.0, 1.0]), 0.03**2, times, depth=2,
                                   multiplicity=m)
    assert np.max(np.abs(u - np.asarray(saxe))) <= 1e-9


def test_broken_assumption_is_reported():
    net = GDLN({"x": 2, "h": 2, "g": 2, "y": 2},
               {"a": ("x", "h"), "b": ("h", "y"), "c": ("x", "g"), "d": ("g", "y")})
    # the g pathway is on for item 0 only: its correlation picks one column of Y^T, whose
    # singular vectors differ from those of Y^T itself
    d = gated_data(net, x={"x": np.eye(2)}, y={"y": np.array([[1.0, 2.0], [3.0, 1.0]])},
                   node_gates={"g": np.array([1.0, 0.0])})
    with pytest.raises(ReductionError, match="do not share singular vectors: Sigma_"):
        reduce(net, d)
    red = reduce(net, d, strict=False)
    assert not red.assumption.holds and "x -> " in red.assumption.worst
    # the same network with context gates that keep the correlations aligned is fine
    d_ok = gated_data(net, x={"x": np.vstack([np.eye(2)] * 2)},
                      y={"y": np.vstack([np.diag([2.0, 1.0])] * 2)},
                      node_gates={"g": np.repeat([1.0, 0.0], 2)})
    assert reduce(net, d_ok).assumption.holds


def test_generic_reduction_of_the_routing_net_is_the_routing_ode():
    M, K = 4, 2
    task = data.routing_task(M, (0, 1), n_hidden=8)
    red = reduce(task.net, task.data)
    assert red.assumption.holds and red.r == 4
    np.testing.assert_allclose(np.abs(red.S).max(axis=0) / task.time_scale, task.s,
                               rtol=1e-12)
    t_nat = np.linspace(0.0, 0.6, 13)
    b = red.flow(0.08 * (red.mask > 0), t_nat / task.time_scale)  # generic time = t / c
    b_route = theory.routing_flow(task.s, 0.08, t_nat, M=M, K=K)
    edges = list(red.edges)
    for layer, name in enumerate(["W1_0", "W2", "W3_1"]):
        np.testing.assert_allclose(b[:, edges.index(name)], b_route[:, layer], rtol=1e-8)
    # aligned init really is aligned: the products of every pathway start at b0^3
    params = red.init_params(jax.random.key(0), 0.08)
    np.testing.assert_allclose(np.asarray(red.path_modes(params)), 0.08**3, rtol=1e-12)


def test_implicit_solution_and_fixed_point():
    M, K, b0 = 7, 4, 0.08
    s = np.array([np.sqrt(185.0), 3.0])
    b2_half = [np.roots([1, 0, (M - 1) * b0**2, -M * x / 2]) for x in s]
    b2_half = np.array([max(r.real for r in rr if abs(r.imag) < 1e-9) for rr in b2_half])
    t = np.array([theory.routing_time(x, b0, b, M=M, K=K) for x, b in zip(s, b2_half)])
    sol = theory.routing_cases(s, K, t, b0, [0.0, 1.0], M=M)
    np.testing.assert_allclose(sol[-1, 1], b2_half, rtol=1e-8)
    np.testing.assert_allclose(sol[-1].prod(axis=0), s / 2, rtol=1e-8)
    end = theory.routing_cases(s, K, 10.0, b0, [0.0, 1.0], M=M)[-1]
    for x, col in zip(s, end.T):
        b1, b2 = theory.routing_fixed_point(x, b0, M=M)
        assert col[1] == pytest.approx(b2, rel=1e-9)
        assert col[0] == pytest.approx(b1, rel=1e-9) and col[2] == pytest.approx(b1, rel=1e-9)


def test_minimal_race_invariant():
    n, u0 = 3, 1e-4
    uv = theory.race_flow(1.0, u0, u0, np.linspace(0.0, 5.0, 51), n=n)
    np.testing.assert_allclose(uv[:, 0] / u0, (uv[:, 1] / u0) ** n, rtol=1e-9)
    assert uv[-1].sum() == pytest.approx(1.0, rel=1e-9)


def test_routing_level_solves_its_cubic():
    for frac in (0.5, 0.9, 1.0):
        b2 = theory.routing_level(13.6, 0.08, frac, M=7)
        assert b2 > 0 and b2 * (b2**2 + 6 * 0.08**2) == pytest.approx(frac * 7 * 13.6, rel=1e-12)
    assert theory.routing_fixed_point(13.6, 0.08, M=7)[1] == theory.routing_level(13.6, 0.08, 1.0,
                                                                                  M=7)
