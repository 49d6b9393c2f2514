"""lambda-balanced closed forms (B1-B9) against float64 gradient flow, and their invariants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learndyn.core import ode
from learndyn.core.config import ConfigError
from learndyn.deep_linear import model, theory

TIMES = np.linspace(0.0, 20.0, 41)

# (N_i, N_h, N_o) and the lambdas each allows: negative, 0, tiny, positive, large
CASES = [
    ((4, 4, 4), (-2.0, 0.0, 1e-6, 2.0, 10.0)),
    ((3, 4, 5), (0.0, 1e-6, 0.5, 2.0, 10.0)),
    ((5, 3, 2), (-10.0, -1.0, -1e-6, 0.0)),
    ((4, 2, 2), (-2.0, 0.0, 1e-6, 1.0)),
    ((6, 5, 3), (-1.0, 0.0)),
    ((2, 6, 6), (0.0, 1.0)),
]
PARAMS = [(dims, lam) for dims, lams in CASES for lam in lams]


def make_task(dims, seed=0):
    n_i, _, n_o = dims
    rng = np.random.default_rng(seed)
    U, _, Vt = np.linalg.svd(rng.standard_normal((n_o, n_i)), full_matrices=False)
    s = np.linspace(3.0, 0.5, min(n_i, n_o))
    return U @ np.diag(s) @ Vt


def random_init(dims, lam, sigma, seed=0, a=None):
    """Random lambda-balanced weights: Haar rotations (saddle-free in equal dims), random a."""
    n_i, n_h, n_o = dims
    keys = jax.random.split(jax.random.key(seed), 4)
    U0, V0 = model.haar(keys[0], n_o), model.haar(keys[1], n_i)
    if n_i == n_o:
        U0 = model.saddle_free(U0, V0, sigma)
    if a is None:
        a = 0.05 + 0.3 * jax.random.uniform(keys[2], (min(dims),), dtype=jnp.float64)
    W1, W2 = model.lambda_balanced_init(keys[3], dims, lam, a=a, U0=U0, V0=V0)
    return np.asarray(W1), np.asarray(W2)


def _flow_rhs(t, y, sig):
    W1, W2 = y
    E = sig - W2 @ W1
    return W2.T @ E, E @ W1.T


def _batched_flow_rhs(t, y, sig):
    return jax.vmap(_flow_rhs, in_axes=(None, 0, 0))(t, y, sig)


def flow(nets, times):
    """Float64 gradient flow (core.ode.solve) for networks of any shapes in one integration.

    Every network is zero-padded to a common (N, N, N): padded rows and columns of the weights
    and of Sigma_yx have zero gradient and stay zero, so the top-left blocks are exact.
    """
    n = max(max(w1.shape + w2.shape) for w1, w2, _ in nets)

    def pad(x):
        return np.pad(x, [(0, n - x.shape[0]), (0, n - x.shape[1])])

    W1 = np.stack([pad(w1) for w1, _, _ in nets])
    W2 = np.stack([pad(w2) for _, w2, _ in nets])
    S = np.stack([pad(s) for _, _, s in nets])

    ys = ode.solve(_batched_flow_rhs, (W1, W2), times, args=jnp.asarray(S), rtol=1e-11, atol=1e-13)
    out = []
    for k, (w1, w2, _) in enumerate(nets):
        a = np.asarray(ys[0][:, k, : w1.shape[0], : w1.shape[1]])
        b = np.asarray(ys[1][:, k, : w2.shape[0], : w2.shape[1]])
        out.append(theory.representations(a, b))
    return out


def rank_deficient_task():
    rng = np.random.default_rng(1)
    U, _, Vt = np.linalg.svd(rng.standard_normal((3, 3)))
    return U @ np.diag([2.0, 1.0, 0.0]) @ Vt


@pytest.fixture(scope="module")
def reference():
    """Every test network and its gradient flow, integrated together (one compilation)."""
    nets, keys = [], []
    for dims, lam in PARAMS:
        sigma = make_task(dims)
        W1, W2 = random_init(dims, lam, sigma, seed=len(nets))
        nets.append((W1, W2, sigma))
        keys.append((dims, lam))
    sigma = rank_deficient_task()
    for lam in (0.0, 1.5):
        nets.append((*random_init((3, 3, 3), lam, sigma, seed=3), sigma))
        keys.append(("rank_deficient", lam))
    return dict(zip(keys, zip(nets, flow(nets, TIMES))))


def max_err(a, b):
    return max(float(np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k])))) for k in a)


@pytest.mark.parametrize("dims, lam", PARAMS)
def test_closed_form_matches_gradient_flow(reference, dims, lam):
    (W1, W2, sigma), ref = reference[(dims, lam)]
    closed = theory.qqt_trajectory(W1, W2, sigma, TIMES)
    assert all(np.all(np.isfinite(v)) for v in closed.values())
    assert max_err(closed, ref) <= 1e-8
    assert set(closed) == {"W2W1", "W1tW1", "W2W2t"}
    n_i, _, n_o = dims
    assert closed["W2W1"].shape == (len(TIMES), n_o, n_i)
    assert closed["W1tW1"].shape == (len(TIMES), n_i, n_i)
    assert closed["W2W2t"].shape == (len(TIMES), n_o, n_o)


@pytest.mark.parametrize("lam", CASES[0][1])
def test_diagonal_form_equals_factor_propagation(reference, lam):
    (W1, W2, sigma), ref = reference[((4, 4, 4), lam)]
    b2 = theory.qqt_diagonal(W1, W2, sigma, TIMES)
    b3 = theory.qqt_propagate(W1, W2, sigma, TIMES)
    assert max_err(b2, b3) <= 1e-9
    assert max_err(b2, ref) <= 1e-8


def test_factor_propagation_is_insensitive_to_its_step():
    dims, lam = (3, 4, 5), 0.5
    sigma = make_task(dims)
    W1, W2 = random_init(dims, lam, sigma)
    times = np.array([0.0, 3.0, 40.0])
    fine = theory.qqt_propagate(W1, W2, sigma, times, max_step=0.5)
    coarse = theory.qqt_propagate(W1, W2, sigma, times, max_step=8.0)
    assert max_err(fine, coarse) <= 1e-10


def test_batched_evaluation_equals_single(reference):
    nets = [reference[((4, 4, 4), lam)][0] for lam in (-2.0, 0.0, 2.0)]
    sigma = nets[0][2]
    W1 = np.stack([n[0] for n in nets])
    W2 = np.stack([n[1] for n in nets])
    both = theory.qqt_trajectory(W1, W2, sigma, TIMES)
    for k, (w1, w2, _) in enumerate(nets):
        single = theory.qqt_trajectory(w1, w2, sigma, TIMES)
        assert max_err({key: v[k] for key, v in both.items()}, single) <= 1e-13


def test_lambda_zero_is_exact_and_continuous():
    X, G, H, Lam = theory.mode_constants(np.array([3.0, 1.0, 0.0]), 0.0)
    assert np.all(X == 0.0) and np.all(G == 1.0) and np.all(H == 1.0)
    assert np.allclose(Lam, [3.0, 1.0, 0.0])
    sigma = make_task((4, 4, 4))
    keys = jax.random.split(jax.random.key(5), 2)
    U0 = model.saddle_free(model.haar(keys[0], 4), model.haar(keys[1], 4), sigma)
    V0 = model.haar(keys[1], 4)
    a = np.array([0.3, 0.2, 0.1, 0.05])
    at = {lam: theory.qqt_trajectory(*model.lambda_balanced_init(
        jax.random.key(0), (4, 4, 4), lam, a=a, U0=U0, V0=V0), sigma, TIMES)
        for lam in (0.0, 1e-12, -1e-12)}
    assert max_err(at[0.0], at[1e-12]) <= 1e-10
    assert max_err(at[0.0], at[-1e-12]) <= 1e-10


def test_rank_deficient_task_in_equal_dims(reference):
    # s = (2, 1, 0): one mode has s = 0 (Lambda = 0 at lambda = 0: the (1 - E^2)/Lambda -> 2t limit)
    for lam in (0.0, 1.5):
        (W1, W2, sigma), ref = reference[("rank_deficient", lam)]
        for method in ("diagonal", "propagate"):
            got = theory.qqt_trajectory(W1, W2, sigma, TIMES, method=method)
            assert max_err(got, ref) <= 1e-8


def test_naive_riccati_evaluation_loses_accuracy(reference):
    """B1 evaluated in one shot cancels e^{+Lambda t} terms: fine early, useless later."""
    (W1, W2, sigma), ref = reference[((4, 4, 4), 2.0)]
    naive = theory.qqt_oneshot(W1, W2, sigma, TIMES)
    early = TIMES <= 1.0
    assert max_err({k: v[early] for k, v in naive.items()},
                   {k: np.asarray(v)[early] for k, v in ref.items()}) <= 1e-10
    late = naive["W2W1"][-1]
    assert not np.all(np.isfinite(late)) or np.max(np.abs(late - ref["W2W1"][-1])) > 1e-3


def test_singular_b_falls_back_to_propagation():
    # aligned start with one mode exactly anti-aligned: B has a zero column at lambda = 0
    dims, s = (2, 2, 2), np.array([2.0, 1.0])
    sigma = np.diag(s)
    W1, W2 = model.lambda_balanced_init(jax.random.key(0), dims, 0.0, a=np.array([0.5, 0.5]),
                                        U0=np.diag([1.0, -1.0]), V0=np.eye(2), R=np.eye(2))
    assert theory.b_condition(W1, W2, sigma, 0.0) > 1e12
    with pytest.raises(ConfigError, match="B2 needs B invertible"):
        theory.qqt_diagonal(W1, W2, sigma, TIMES)
    times = np.linspace(0, 5.0, 11)  # before round-off leaves the saddle
    got = theory.qqt_trajectory(W1, W2, sigma, times)
    mode1 = theory.mode_trajectory(2.0, 0.5, times)
    mode2 = theory.mode_trajectory(1.0, -0.5, times)  # heads into the saddle at 0
    assert np.allclose(got["W2W1"][:, 0, 0], mode1, rtol=0, atol=1e-12)
    assert np.allclose(got["W2W1"][:, 1, 1], mode2, rtol=0, atol=1e-12)
    assert np.all(np.asarray(mode2) < 0)


# ---- invariants (hypothesis) --------------------------------------------------------------
DIMS = st.sampled_from([(3, 3, 3), (2, 2, 2), (3, 4, 5), (5, 3, 2), (4, 2, 2)])


def allowed(dims, lam):
    n_i, n_h, n_o = dims
    return (n_h <= n_i or lam >= 0) and (n_h <= n_o or lam <= 0)


@settings(max_examples=25, deadline=None)
@given(dims=DIMS, lam=st.floats(-5, 5), seed=st.integers(0, 10_000))
def test_propagation_conserves_the_balance(dims, lam, seed):
    if not allowed(dims, lam):
        lam = -lam if allowed(dims, -lam) else 0.0
    sigma = make_task(dims, seed)
    W1, W2 = random_init(dims, lam, sigma, seed=seed)
    W1t, W2t = theory.propagate_weights(W1, W2, sigma, [0.5, 5.0, 30.0])
    assert np.allclose(theory.lambda_of(W1t, W2t), lam, rtol=0, atol=1e-9 * max(1, abs(lam)))
    # the propagated weights reproduce QQ^T (a hidden rotation away from the true weights)
    direct = theory.qqt_trajectory(W1, W2, sigma, [0.5, 5.0, 30.0], method="propagate")
    assert max_err(theory.representations(W1t, W2t), direct) <= 1e-12


@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 4), lam=st.floats(0.01, 8), seed=st.integers(0, 10_000))
def test_plus_minus_lambda_symmetry(n, lam, seed):
    """Equal dims: same product W(0) -> same W(t) and loss; the layers swap roles."""
    sigma = make_task((n, n, n), seed)
    keys = jax.random.split(jax.random.key(seed), 3)
    U0 = model.saddle_free(model.haar(keys[0], n), model.haar(keys[1], n), sigma)
    common = dict(a=np.linspace(0.3, 0.05, n), U0=U0, V0=model.haar(keys[1], n))
    plus = theory.qqt_trajectory(*model.lambda_balanced_init(keys[2], (n,) * 3, lam, **common),
                                 sigma, TIMES)
    minus = theory.qqt_trajectory(*model.lambda_balanced_init(keys[2], (n,) * 3, -lam,
                                                              **common), sigma, TIMES)
    assert np.max(np.abs(plus["W2W1"] - minus["W2W1"])) <= 1e-10 * max(1.0, lam)
    eye = np.eye(n)
    assert np.max(np.abs(minus["W1tW1"] - plus["W1tW1"] - lam * eye)) <= 1e-10 * max(1.0, lam)
    assert np.max(np.abs(plus["W2W2t"] - minus["W2W2t"] - lam * eye)) <= 1e-10 * max(1.0, lam)


@settings(max_examples=20, deadline=None)
@given(dims=DIMS, seed=st.integers(0, 10_000))
def test_solution_depends_only_on_qqt(dims, seed):
    """Rotating the hidden units (W1 -> O W1, W2 -> W2 O^T) changes nothing."""
    lam = 0.7 if allowed(dims, 0.7) else -0.7
    sigma = make_task(dims, seed)
    W1, W2 = random_init(dims, lam, sigma, seed=seed)
    O = np.asarray(model.haar(jax.random.key(seed + 1), dims[1]))
    a = theory.qqt_trajectory(W1, W2, sigma, TIMES[:9])
    b = theory.qqt_trajectory(O @ W1, W2 @ O.T, sigma, TIMES[:9])
    assert max_err(a, b) <= 1e-11


# ---- single aligned mode (B4) -------------------------------------------------------------
@pytest.mark.parametrize("s, a0, lam", [(2.0, 0.01, 0.0), (2.0, 0.01, 0.5), (1.5, 0.2, -2.0),
                                        (3.0, 1e-3, 10.0), (-1.0, 0.5, 1.0), (1.0, -0.3, 0.2),
                                        (0.5, 0.0, 2.0)])
def test_mode_trajectory_matches_its_ode(s, a0, lam):
    times = np.linspace(0.0, 15.0, 151)
    args = (jnp.asarray(s), jnp.asarray(lam), jnp.asarray(1.0))  # arrays: one compilation
    numeric = ode.solve(theory.mode_lambda_rhs, jnp.asarray(a0), times, args=args,
                        rtol=1e-12, atol=1e-14)
    closed = theory.mode_trajectory(s, a0, times, lam)
    assert np.max(np.abs(np.asarray(numeric) - np.asarray(closed))) <= 1e-10


@settings(max_examples=40, deadline=None)
@given(s=st.floats(0.1, 5), log_a0=st.floats(-6, 0), lam=st.floats(0, 20), tau=st.floats(0.5, 2))
def test_mode_trajectory_symmetry_and_saxe_limit(s, log_a0, lam, tau):
    a0 = s * 10.0**log_a0 * 0.99
    t = np.linspace(0.0, 30.0, 61)
    plus = np.asarray(theory.mode_trajectory(s, a0, t, lam, tau))
    minus = np.asarray(theory.mode_trajectory(s, a0, t, -lam, tau))
    assert np.max(np.abs(plus - minus)) <= 1e-12 * s
    saxe = np.asarray(theory.mode_saxe(s, a0, t, tau))
    assert np.max(np.abs(np.asarray(theory.mode_trajectory(s, a0, t, 0.0, tau)) - saxe)) \
        <= 1e-12 * s


def test_mode_trajectory_broadcasts_and_scales_time():
    s = np.array([3.0, 1.0])
    out = theory.mode_trajectory(s[:, None], 0.01, [0.0, 1.0, 2.0], np.array([0.0, 1.0, 5.0]))
    assert out.shape == (3, 2, 3)
    assert np.allclose(out[0], 0.01)
    slow = theory.mode_trajectory(2.0, 0.01, [2.0], 1.0, tau=2.0)
    assert np.allclose(slow, theory.mode_trajectory(2.0, 0.01, [1.0], 1.0), rtol=1e-14)


def test_lazy_limit_is_exponential():
    s, a0, lam = 1.0, 0.01, 1000.0
    t = np.linspace(0.0, 0.01, 21)
    a = np.asarray(theory.mode_trajectory(s, a0, t, lam))
    assert np.allclose(a, s - (s - a0) * np.exp(-lam * t), rtol=0, atol=2e-3 * s)


def test_mode_trajectory_equals_the_matrix_solution_for_aligned_weights():
    n, s = 3, np.array([3.0, 1.0, 0.5])
    rng = np.random.default_rng(0)
    U, _, Vt = np.linalg.svd(rng.standard_normal((n, n)))
    sigma = U @ np.diag(s) @ Vt
    a0 = np.array([0.02, 0.1, 0.3])
    for lam in (-1.5, 0.0, 4.0):
        W1, W2 = model.lambda_balanced_init(jax.random.key(1), (n,) * 3, lam, a=a0, U0=U,
                                            V0=Vt.T)
        got = theory.qqt_trajectory(W1, W2, sigma, TIMES)["W2W1"]
        modes = np.einsum("oa,toi,ia->ta", U, got, Vt.T)
        assert np.max(np.abs(modes - np.asarray(theory.mode_trajectory(s, a0, TIMES, lam)))) \
            <= 1e-11


def test_reversal_closed_form():
    """Target s -> -s: stuck at the saddle for lambda = 0, completed for lambda != 0."""
    s = 1.0
    t = np.linspace(0.0, 100.0, 1001)
    a = np.asarray(theory.mode_trajectory(-s, s, t, 0.0))
    exact = s * np.exp(-2 * s * t) / (2 - np.exp(-2 * s * t))
    early = t <= 150.0 / s
    assert np.all(a[early] > 0)
    assert np.allclose(a, exact, rtol=1e-12, atol=0)
    assert abs(float(theory.mode_trajectory(-s, s, [20.0], 1.0)[0]) + s) <= 1e-8


# ---- product-only ODE, limits, sequential tasks -------------------------------------------
def test_product_only_ode_reproduces_the_function(reference):
    for lam in (-2.0, 0.0, 10.0):
        (W1, W2, sigma), ref = reference[((4, 4, 4), lam)]
        W = theory.product_trajectory(W2 @ W1, sigma, TIMES, lam)
        assert np.max(np.abs(np.asarray(W) - ref["W2W1"])) <= 1e-9
    with pytest.raises(ConfigError, match="N_i = N_h = N_o"):
        theory.product_trajectory(np.zeros((2, 3)), np.zeros((2, 3)), TIMES, 0.0)


@pytest.mark.parametrize("lam", [-10.0, -2.0, 0.0, 1e-6, 0.5, 10.0])
def test_final_representations(lam):
    n = 4
    sigma = make_task((n, n, n))
    W1, W2 = random_init((n, n, n), lam, sigma, a=0.01)
    late = theory.qqt_trajectory(W1, W2, sigma, [60.0])
    limit = theory.final_representations(sigma, lam)
    assert max_err({k: v[0] for k, v in late.items()}, limit) <= 1e-8


def test_final_representations_limits_and_unequal_dims():
    sigma = make_task((3, 3, 3))
    U, s, Vt = np.linalg.svd(sigma)
    rich = theory.final_representations(sigma, 0.0)
    assert np.allclose(rich["W1tW1"], Vt.T @ np.diag(s) @ Vt, atol=1e-14)
    assert np.allclose(rich["W2W2t"], U @ np.diag(s) @ U.T, atol=1e-14)
    lazy = theory.final_representations(sigma, 1e6)
    assert np.allclose(lazy["W1tW1"] * 1e6, Vt.T @ np.diag(s**2) @ Vt, rtol=1e-5, atol=1e-9)
    assert np.allclose(lazy["W2W2t"] - 1e6 * np.eye(3), U @ np.diag(s**2 / 1e6) @ U.T,
                       atol=1e-6)
    # unequal dims: compare on the task subspace
    dims = (3, 4, 5)
    sigma = make_task(dims)
    W1, W2 = random_init(dims, 0.5, sigma)
    late = theory.qqt_trajectory(W1, W2, sigma, [60.0])
    limit = theory.final_representations(sigma, 0.5)
    Uo = np.linalg.svd(sigma, full_matrices=False)[0]
    P = Uo @ Uo.T
    assert np.max(np.abs(late["W2W1"][0] - sigma)) <= 1e-8
    assert np.max(np.abs(late["W1tW1"][0] - limit["W1tW1"])) <= 1e-8
    assert np.max(np.abs(P @ late["W2W2t"][0] @ P - limit["W2W2t"])) <= 1e-8


def test_sequential_tasks_chain_through_a_switch():
    """lambda survives a change of task; the closed form restarts from the propagated weights."""
    dims, lam, t_switch = (3, 4, 5), 0.8, 6.0
    sigma1, sigma2 = make_task(dims, 1), make_task(dims, 2)
    W1, W2 = random_init(dims, lam, sigma1)
    mid = theory.propagate_weights(W1, W2, sigma1, [t_switch])
    W1s, W2s = mid[0][0], mid[1][0]
    assert abs(float(theory.lambda_of(W1s, W2s)) - lam) <= 1e-10
    after = np.linspace(0.0, 10.0, 21)
    chained = theory.qqt_trajectory(W1s, W2s, sigma2, after)
    first = ode.solve(_flow_rhs, (W1, W2), np.linspace(0.0, t_switch, len(after)),
                      args=jnp.asarray(sigma1), rtol=1e-11, atol=1e-13)
    second = ode.solve(_flow_rhs, (first[0][-1], first[1][-1]), after,
                       args=jnp.asarray(sigma2), rtol=1e-11, atol=1e-13)
    ref = theory.representations(np.asarray(second[0]), np.asarray(second[1]))
    assert max_err(chained, ref) <= 1e-8


# ---- initialisation and errors ------------------------------------------------------------
@pytest.mark.parametrize("dims, lam", [((4, 4, 4), -3.0), ((3, 4, 5), 2.0), ((5, 3, 2), -0.5),
                                       ((4, 2, 2), 1.0), ((2, 6, 6), 1e6), ((2, 5, 3), 0.0)])
def test_lambda_balanced_init(dims, lam):
    n_i, n_h, n_o = dims
    a = np.linspace(0.4, 0.1, min(dims))
    W1, W2 = (np.asarray(w) for w in model.lambda_balanced_init(jax.random.key(0), dims, lam,
                                                                a=a))
    assert W1.shape == (n_h, n_i) and W2.shape == (n_o, n_h)
    balance = W2.T @ W2 - W1 @ W1.T
    assert np.max(np.abs(balance - lam * np.eye(n_h))) <= 1e-12 * max(1.0, abs(lam))
    sv = np.linalg.svd(W2 @ W1, compute_uv=False)[: min(dims)]
    assert np.allclose(np.sort(sv), np.sort(a), rtol=1e-12, atol=0)
    assert theory.lambda_of(W1, W2) == pytest.approx(lam, abs=1e-12 * max(1.0, abs(lam)))


def test_lambda_balanced_init_at_random_scale_and_dtype():
    W1, W2 = model.lambda_balanced_init(jax.random.key(3), (6, 6, 6), 1.0, scale=0.01,
                                        dtype=jnp.float32)
    assert W1.dtype == jnp.float32
    sv = np.linalg.svd(np.asarray(W2, np.float64) @ np.asarray(W1, np.float64),
                       compute_uv=False)
    assert 0.001 < sv.max() < 0.1
    with pytest.raises(ConfigError, match="singular values a or a scale"):
        model.lambda_balanced_init(jax.random.key(0), (2, 2, 2), 0.0)


@pytest.mark.parametrize("dims, lam, match", [
    ((3, 4, 5), -1.0, "N_h = 4 > N_i = 3 need lambda >= 0"),
    ((5, 4, 3), 1.0, "N_h = 4 > N_o = 3 need lambda <= 0"),
    ((2, 5, 3), 0.5, "N_h = 5 > N_o = 3"),
    ((2, 5, 3), -0.5, "N_h = 5 > N_i = 2"),
    ((3, 3, 3), float("nan"), "finite"),
    ((0, 3, 3), 0.0, "positive integers"),
])
def test_bad_dimensions_or_lambda_raise(dims, lam, match):
    with pytest.raises(ConfigError, match=match):
        model.lambda_balanced_init(jax.random.key(0), dims, lam, a=0.1)


def test_unbalanced_or_mismatched_weights_raise():
    rng = np.random.default_rng(0)
    W1, W2 = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    with pytest.raises(ConfigError, match="not lambda-balanced"):
        theory.qqt_trajectory(W1, W2, np.eye(3), TIMES)
    W1, W2 = model.lambda_balanced_init(jax.random.key(0), (3, 3, 3), 1.0, a=0.2)
    with pytest.raises(ConfigError, match="sigma_yx has shape"):
        theory.qqt_trajectory(W1, W2, np.eye(4), TIMES)
    W1, W2 = model.lambda_balanced_init(jax.random.key(0), (3, 4, 5), 1.0, a=0.2)
    with pytest.raises(ConfigError, match="N_i = N_h = N_o"):
        theory.qqt_diagonal(W1, W2, np.zeros((5, 3)), TIMES)
    with pytest.raises(ValueError, match="times"):
        theory.qqt_trajectory(W1, W2, np.zeros((5, 3)), [-1.0])


def test_saddle_free_rotations():
    sigma = make_task((4, 4, 4))
    flips = 0
    for seed in range(8):
        keys = jax.random.split(jax.random.key(seed), 2)
        U0, V0 = model.haar(keys[0], 4), model.haar(keys[1], 4)
        U, _, Vt = np.linalg.svd(sigma)
        before = np.linalg.det(U.T @ U0 @ V0.T @ Vt.T)
        fixed = model.saddle_free(U0, V0, sigma)
        assert np.linalg.det(U.T @ fixed @ V0.T @ Vt.T) > 0
        W1, W2 = model.lambda_balanced_init(keys[0], (4, 4, 4), 0.0, a=0.1, U0=U0, V0=V0)
        if before < 0:  # det -1: an eigenvalue -1, B singular at lambda = 0
            flips += 1
            assert theory.b_condition(W1, W2, sigma, 0.0) > 1e12
    assert 0 < flips < 8
