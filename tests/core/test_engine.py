"""The training engine against a plain Python loop, step for step, in float64.

The reference loop re-derives the keys the way :func:`simulate` documents them: seed ``s`` gives
``key(s)``, split into (init key, step key); step ``t`` uses ``fold_in(step_key, t)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from learndyn.core.config import ConfigError
from learndyn.core.engine import (
    DivergenceError,
    Stream,
    TrainState,
    gradient_step,
    record_steps,
    run_keys,
    simulate,
)

# ---- record_steps ------------------------------------------------------------------------


@pytest.mark.parametrize("spacing", ["linear", "log"])
@pytest.mark.parametrize(
    ("num_steps", "num_records"),
    [(1, 2), (2, 2), (10, 2), (10, 11), (100, 2), (100, 50), (100, 101), (1000, 3),
     (12345, 200), (10**7, 1000)],
)
def test_record_steps_shape(num_steps, num_records, spacing):
    steps = record_steps(num_steps, num_records, spacing=spacing)
    assert steps.shape == (num_records,)
    assert steps.dtype.kind == "i"
    assert steps[0] == 0
    assert steps[-1] == num_steps
    assert np.all(np.diff(steps) > 0)


@settings(max_examples=300, deadline=None)
@given(
    num_steps=st.integers(1, 10**6),
    fraction=st.floats(0.0, 1.0),
    spacing=st.sampled_from(["linear", "log"]),
)
def test_record_steps_property(num_steps, fraction, spacing):
    """Exactly num_records distinct steps from 0 to num_steps, whatever the two numbers are."""
    num_records = 2 + int(fraction * (min(num_steps + 1, 2000) - 2))
    steps = record_steps(num_steps, num_records, spacing=spacing)
    assert len(steps) == num_records
    assert steps[0] == 0 and steps[-1] == num_steps
    assert np.all(np.diff(steps) >= 1)


def test_record_steps_log_is_geometric():
    steps = record_steps(10**6, 7, spacing="log")
    # 1e6 ** (k / 5) for k = 0..5, rounded
    np.testing.assert_array_equal(steps, [0, 1, 16, 251, 3981, 63096, 10**6])


def test_record_steps_linear_is_even():
    np.testing.assert_array_equal(record_steps(100, 5), [0, 25, 50, 75, 100])


@pytest.mark.parametrize(("num_steps", "num_records"), [(10, 12), (10, 1), (0, 2), (5, 0)])
def test_record_steps_rejects_impossible_counts(num_steps, num_records):
    with pytest.raises(ValueError, match="num_records"):
        record_steps(num_steps, num_records)


def test_record_steps_rejects_unknown_spacing():
    with pytest.raises(ValueError, match="spacing"):
        record_steps(10, 3, spacing="quadratic")


# ---- a tiny model: linear regression y = W x with W of shape (2, 3) ------------------------

N_OUT, N_IN, N_DATA = 2, 3, 5
LR = 0.05
NUM_STEPS = 60
SGD = optax.sgd(LR)


def make_args(seed: int = 123) -> dict:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N_IN, N_DATA))
    W_true = rng.normal(size=(N_OUT, N_IN))
    Y = W_true @ X + 0.1 * rng.normal(size=(N_OUT, N_DATA))
    return {"X": jnp.asarray(X), "Y": jnp.asarray(Y), "W_true": jnp.asarray(W_true)}


def loss(W, batch):
    residual = batch["Y"] - W @ batch["X"]
    return 0.5 * jnp.mean(residual**2)


def init_weights(key, args):
    return 0.5 * jax.random.normal(key, (N_OUT, N_IN), dtype=jnp.float64)


def init(key, args):
    W = init_weights(key, args)
    return TrainState(W, SGD.init(W))


def sample(key, args):
    """Fresh Gaussian inputs every step (online learning), labels from the teacher."""
    X = jax.random.normal(key, (N_IN, N_DATA), dtype=jnp.float64)
    return {"X": X, "Y": args["W_true"] @ X}


def observe(state, args):
    return {"W": state.params, "loss": loss(state.params, args)}


FULL_STEP = gradient_step(loss, SGD)
ONLINE_STEP = gradient_step(loss, SGD, sample=sample)


# ---- the reference: a plain Python loop of single steps written without the engine ------


@jax.jit
def _ref_full_update(W, key, args, lr):
    return W - lr * jax.grad(loss)(W, args)


@jax.jit
def _ref_online_update(W, key, args, lr):
    return W - lr * jax.grad(loss)(W, sample(key, args))


def reference(seed: int, num_steps: int, args: dict, *, online: bool, lr: float = LR):
    """(W at every step 0..num_steps, first step count with a non-finite W or None)."""
    init_key, step_key = jax.random.split(jax.random.key(seed))
    W = init_weights(init_key, args)
    update = _ref_online_update if online else _ref_full_update
    trajectory, diverged = [np.asarray(W)], None
    for t in range(num_steps):
        W = update(W, jax.random.fold_in(step_key, t), args, lr)
        trajectory.append(np.asarray(W))
        if diverged is None and not np.all(np.isfinite(trajectory[-1])):
            diverged = t + 1
    return np.stack(trajectory), diverged


batch_loss = jax.jit(jax.vmap(loss, in_axes=(0, None)))
ARGS = make_args()
_REFERENCE_CACHE: dict = {}


def cached_reference(seed: int, online: bool) -> np.ndarray:
    if (seed, online) not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[seed, online] = reference(seed, NUM_STEPS, ARGS, online=online)[0]
    return _REFERENCE_CACHE[seed, online]


TIGHT = dict(rtol=1e-12, atol=1e-14)

# A compiled loop is keyed by (functions, number of seeds, records per chunk). Both schedules
# below run 12 records per chunk, so the tests share one compiled program per step function.
SEEDS = [0, 1, 2]
EVERY_STEP, EVERY_STEP_CHUNKS = np.arange(NUM_STEPS + 1), 5  # 5 chunks of 12 records
LOG_SCHEDULE, LOG_CHUNKS = record_steps(NUM_STEPS, 13, spacing="log"), 1  # 1 chunk of 12


@pytest.mark.parametrize("online", [False, True], ids=["full-batch", "online"])
def test_simulate_matches_python_loop_every_step(online):
    rec = simulate(init, ONLINE_STEP if online else FULL_STEP, observe, seeds=SEEDS,
                   record_at=EVERY_STEP, args=ARGS, n_chunks=EVERY_STEP_CHUNKS)
    np.testing.assert_array_equal(rec.steps, np.arange(NUM_STEPS + 1))
    assert rec.values["W"].shape == (3, NUM_STEPS + 1, N_OUT, N_IN)
    assert rec.values["W"].dtype == np.float64
    for i, seed in enumerate(SEEDS):
        ref = cached_reference(seed, online)
        np.testing.assert_allclose(rec.values["W"][i], ref, **TIGHT)
        np.testing.assert_allclose(rec.final.params[i], ref[-1], **TIGHT)
        np.testing.assert_allclose(rec.values["loss"][i], batch_loss(ref, ARGS), **TIGHT)
    # the model actually learned something, and seeds differ
    assert rec.values["loss"][:, -1].max() < rec.values["loss"][:, 0].min()
    assert not np.allclose(rec.values["W"][0], rec.values["W"][1])


def test_online_sampling_uses_fresh_data_each_step():
    """Online and full-batch trajectories differ, and the online one differs between seeds
    from the first step (each seed draws its own batches)."""
    full, online = cached_reference(0, False), cached_reference(0, True)
    np.testing.assert_array_equal(full[0], online[0])
    assert not np.allclose(full[1], online[1])


@pytest.mark.parametrize(
    ("online", "record_at", "n_chunks"),
    [
        (False, record_steps(NUM_STEPS, 2), 1),
        (False, record_steps(NUM_STEPS, 7), 3),
        (False, LOG_SCHEDULE, LOG_CHUNKS),
        (False, LOG_SCHEDULE, 4),
        (False, np.array([0, 1, 2, 3, 59, 60]), 2),
        (False, np.arange(NUM_STEPS + 1), 100),
        (True, LOG_SCHEDULE, LOG_CHUNKS),
    ],
)
def test_simulate_independent_of_schedule_and_chunks(online, record_at, n_chunks):
    rec = simulate(init, ONLINE_STEP if online else FULL_STEP, observe, seeds=SEEDS,
                   record_at=record_at, args=ARGS, n_chunks=n_chunks)
    np.testing.assert_array_equal(rec.steps, record_at)
    assert rec.values["W"].shape[:2] == (len(SEEDS), len(record_at))
    for i, seed in enumerate(SEEDS):
        np.testing.assert_allclose(rec.values["W"][i], cached_reference(seed, online)[record_at],
                                   **TIGHT)


def test_vmapped_seeds_equal_single_seed_runs():
    seeds = [7, 3, 11]
    together = simulate(init, ONLINE_STEP, observe, seeds=seeds, record_at=LOG_SCHEDULE,
                        args=ARGS, n_chunks=LOG_CHUNKS)
    for i, seed in enumerate(seeds):
        alone = simulate(init, ONLINE_STEP, observe, seeds=[seed], record_at=LOG_SCHEDULE,
                         args=ARGS, n_chunks=LOG_CHUNKS)
        for name in ("W", "loss"):
            np.testing.assert_allclose(together.values[name][i], alone.values[name][0], **TIGHT)
    again = simulate(init, ONLINE_STEP, observe, seeds=[seeds[-1]], record_at=LOG_SCHEDULE,
                     args=ARGS, n_chunks=LOG_CHUNKS)
    np.testing.assert_array_equal(again.values["W"], alone.values["W"])  # same seed, same numbers


@pytest.mark.parametrize("record_at", [[1, 2, 3], [0, 2, 2], [0, 3, 1]])
def test_simulate_rejects_bad_schedule(record_at):
    with pytest.raises(ValueError, match="record_at"):
        simulate(init, FULL_STEP, observe, seeds=[0], record_at=np.array(record_at), args=ARGS)


# ---- divergence ---------------------------------------------------------------------------

BIG_LR = 300.0
BIG_SGD = optax.sgd(BIG_LR)
DIVERGE_STEPS = 400


BIG_STEP = gradient_step(loss, BIG_SGD)  # plain SGD keeps no state: ``init`` serves it too
_DIVERGENCE: dict = {}


def divergence_reference(seed: int) -> int | None:
    if seed not in _DIVERGENCE:
        _DIVERGENCE[seed] = reference(seed, DIVERGE_STEPS, ARGS, online=False, lr=BIG_LR)[1]
    return _DIVERGENCE[seed]


@pytest.mark.parametrize(
    ("record_at", "n_chunks"),
    [
        (np.array([0, DIVERGE_STEPS]), 1),
        (record_steps(DIVERGE_STEPS, 11), 10),  # one record per chunk: the same program
    ],
)
@pytest.mark.parametrize("vmap_seeds", [True, False], ids=["vmap", "threads"])
def test_divergence_error_names_first_non_finite_step(record_at, n_chunks, vmap_seeds):
    seeds = [0, 1, 2]
    expected = {s: divergence_reference(s) for s in seeds}
    assert all(step is not None for step in expected.values()), "the reference must diverge"
    first_step = min(expected.values())
    first_seed = min(s for s in seeds if expected[s] == first_step)
    assert 10 < first_step < DIVERGE_STEPS  # diverges mid-run, not at once
    with pytest.raises(DivergenceError) as info:
        simulate(init, BIG_STEP, observe, seeds=seeds, record_at=record_at, args=ARGS,
                 n_chunks=n_chunks, vmap_seeds=vmap_seeds)
    assert info.value.step == first_step
    assert info.value.seed == first_seed
    assert f"step {first_step}" in str(info.value)


def test_divergence_at_init_is_step_zero():
    def init_nan(key, args):
        W = jnp.full((N_OUT, N_IN), jnp.nan)
        return TrainState(W, SGD.init(W))

    with pytest.raises(DivergenceError) as info:
        simulate(init_nan, FULL_STEP, observe, seeds=[5], record_at=np.array([0, 3]), args=ARGS)
    assert info.value.step == 0 and info.value.seed == 5


# ---- progress ----------------------------------------------------------------------------


def test_progress_reports_increasing_counts_up_to_total():
    calls = []
    simulate(init, FULL_STEP, observe, seeds=SEEDS, record_at=EVERY_STEP, args=ARGS,
             progress=lambda done, total, label="": calls.append((done, total, label)),
             label="tiny", n_chunks=EVERY_STEP_CHUNKS)
    assert len(calls) >= 2
    done = [c[0] for c in calls]
    assert all(b > a for a, b in zip(done, done[1:]))
    assert done[-1] == NUM_STEPS
    assert {c[1] for c in calls} == {NUM_STEPS}
    assert {c[2] for c in calls} == {"tiny"}


# ---- early stop and padding ----------------------------------------------------------------


def test_stop_when_ends_at_a_chunk_and_keeps_the_prefix():
    """Stopping once every seed's loss is below a level keeps exactly the full run's records up
    to the end of that chunk; the callback sees the records so far; progress completes."""
    full = simulate(init, FULL_STEP, observe, seeds=SEEDS, record_at=EVERY_STEP, args=ARGS,
                    n_chunks=EVERY_STEP_CHUNKS)
    level = float(np.median(full.values["loss"].max(axis=0)))
    seen, calls = [], []

    def below(steps, values):
        seen.append((steps.copy(), values["loss"].shape))
        return bool(np.all(values["loss"][:, -1] < level))

    rec = simulate(init, FULL_STEP, observe, seeds=SEEDS, record_at=EVERY_STEP, args=ARGS,
                   n_chunks=EVERY_STEP_CHUNKS, stop_when=below,
                   progress=lambda done, total, label="": calls.append((done, total)))
    n = len(rec.steps)
    assert n < len(EVERY_STEP), "the run was not stopped early"
    assert n > 1
    assert (n - 1) % 12 == 0  # at a chunk boundary (12 records each, plus step 0)
    np.testing.assert_array_equal(rec.steps, EVERY_STEP[:n])
    for k in ("W", "loss"):
        np.testing.assert_array_equal(rec.values[k], full.values[k][:, :n])
    assert np.all(rec.values["loss"][:, -1] < level)
    assert not np.all(rec.values["loss"][:, -13] < level)  # the chunk before did not stop it
    assert [len(s) for s, _ in seen] == list(range(13, n + 1, 12))
    assert all(shape == (len(SEEDS), len(s)) for s, shape in seen)
    assert calls[-1] == (NUM_STEPS, NUM_STEPS)


@pytest.mark.parametrize("batched", [False, True], ids=["plain", "batched"])
def test_seeds_in_threads_equal_vmapped_seeds(batched):
    """vmap_seeds=False (one call per seed, in threads) gives the vmapped run's numbers, with
    and without a batch axis, including the final state and an early stop."""
    args = jax.tree.map(lambda a, b: jnp.stack([a, b]), ARGS, make_args(7)) if batched else ARGS
    seeds = [4, 0, 9]
    kw = dict(seeds=seeds, record_at=LOG_SCHEDULE, args=args, n_chunks=4, batched=batched)
    vm = simulate(init, ONLINE_STEP, observe, **kw)
    th = simulate(init, ONLINE_STEP, observe, vmap_seeds=False, **kw)
    np.testing.assert_array_equal(th.steps, vm.steps)
    for k in ("W", "loss"):
        assert th.values[k].shape == vm.values[k].shape
        np.testing.assert_allclose(th.values[k], vm.values[k], **TIGHT)
    np.testing.assert_allclose(th.final.params, vm.final.params, **TIGHT)
    early = simulate(init, ONLINE_STEP, observe, vmap_seeds=False,
                     stop_when=lambda steps, values: len(steps) > 3, **kw)
    assert 3 < len(early.steps) < len(LOG_SCHEDULE)
    np.testing.assert_allclose(early.values["W"], vm.values["W"][..., :len(early.steps), :, :],
                               **TIGHT)


def test_padded_records_skip_observe():
    """Calls padded to a shared number of records observe only their real records (counted
    at run time)."""
    count = [0]

    def counted(state, args):
        jax.debug.callback(lambda: count.__setitem__(0, count[0] + 1))
        return observe(state, args)

    record_at = np.array([0, 10, 20, 60])
    simulate(init, FULL_STEP, counted, seeds=[0], record_at=record_at, args=ARGS, n_chunks=1)
    assert count[0] == len(record_at)
    count[0] = 0
    # two calls: steps 0, 10, 20, then 60 padded to the same 3 records per call
    padded = simulate(init, FULL_STEP, counted, seeds=[0], record_at=record_at, args=ARGS,
                      n_chunks=3)
    assert count[0] == len(record_at)
    np.testing.assert_allclose(padded.values["W"][0], cached_reference(0, False)[record_at],
                               **TIGHT)


# ---- compile once ------------------------------------------------------------------------

TRACES = {"step": 0}


def counting_step(state, key, t, args):
    TRACES["step"] += 1  # Python side effect: runs only while JAX traces
    return FULL_STEP(state, key, t, args)


def test_advance_is_not_retraced_for_same_functions_and_shapes():
    record_at = record_steps(NUM_STEPS, 11)
    simulate(init, counting_step, observe, seeds=SEEDS, record_at=record_at, args=ARGS)
    traced = TRACES["step"]
    assert traced >= 1
    # new data of the same shapes, other seeds, another schedule of the same chunk width
    other = make_args(seed=99)
    simulate(init, counting_step, observe, seeds=[5, 6, 7], record_at=record_at, args=other)
    simulate(init, counting_step, observe, seeds=SEEDS, record_at=record_at * 2, args=other)
    assert TRACES["step"] == traced
    # the counter can see a retrace: a different number of seeds is a new shape
    simulate(init, counting_step, observe, seeds=[0], record_at=record_at, args=ARGS)
    assert TRACES["step"] > traced


# ---- bounded calls, streams, seed groups, 64-bit steps ------------------------------------


def test_calls_cut_to_a_step_budget_give_the_same_numbers():
    """A tiny time budget per call cuts intervals into many calls (the host wakes up often,
    so Ctrl-C is honoured quickly); the numbers and records are unchanged."""
    kw = dict(seeds=SEEDS, record_at=record_steps(600, 13, spacing="log"), args=ARGS,
              n_chunks=LOG_CHUNKS)
    calls = []
    cut = simulate(init, ONLINE_STEP, observe, chunk_seconds=1e-9,
                   progress=lambda done, total, label="": calls.append(done), **kw)
    whole = simulate(init, ONLINE_STEP, observe, **kw)
    assert len(calls) > 400  # 64, 8, then one step per call
    assert calls == sorted(calls) and calls[-1] == 600
    np.testing.assert_array_equal(cut.steps, whole.steps)
    np.testing.assert_allclose(cut.values["W"], whole.values["W"], **TIGHT)


def _counter_init(key, args):
    return {"n": jnp.zeros((), jnp.int64), "x": jnp.zeros(())}


def _stream_init(key, args):
    return jax.random.key_data(key)[..., 0].astype(jnp.uint32)


def _stream_draw(state, args):
    """A toy generator: block of 7 consecutive counter values (the data of 7 steps)."""
    block = state + jnp.arange(7, dtype=jnp.uint32)
    return state + jnp.uint32(7), block


TOY_STREAM = Stream(_stream_init, _stream_draw, 7)


def _stream_step(state, row, t, args):
    return {"n": state["n"] + 1, "x": state["x"] + row.astype(jnp.float64)}


def _stream_observe(state, args):
    return {"n": state["n"], "x": state["x"]}


def test_stream_rows_follow_the_step_whatever_the_records():
    """With a stream, step t gets row t mod 7 of block t // 7: the sum of rows over steps
    0..T-1 is sum(s0 + t) whatever the records and the chunking."""
    seeds = [3, 8]
    rec = simulate(_counter_init, _stream_step, _stream_observe, seeds=seeds,
                   record_at=np.array([0, 3, 7, 16, 30]), stream=TOY_STREAM, n_chunks=3)
    other = simulate(_counter_init, _stream_step, _stream_observe, seeds=seeds,
                     record_at=np.array([0, 1, 2, 30]), stream=TOY_STREAM, n_chunks=1,
                     chunk_seconds=1e-9)
    np.testing.assert_array_equal(rec.values["x"][:, -1], other.values["x"][:, -1])
    _, _, _, step_keys = run_keys(np.array([0, 1]), seeds)
    first = np.array([int(_stream_init(k, None)) for k in step_keys], dtype=np.float64)
    for T, x in zip([0, 3, 7, 16, 30], rec.values["x"].T):
        np.testing.assert_array_equal(x, T * first + T * (T - 1) / 2)


@pytest.mark.parametrize("groups", [2, 3])
def test_seed_groups_in_threads_equal_one_program(groups):
    kw = dict(seeds=[4, 0, 9], record_at=LOG_SCHEDULE, args=ARGS, n_chunks=2)
    one = simulate(init, ONLINE_STEP, observe, **kw)
    split = simulate(init, ONLINE_STEP, observe, groups=groups, **kw)
    np.testing.assert_array_equal(split.values["W"], one.values["W"])
    np.testing.assert_array_equal(split.final.params, one.final.params)


def test_cheap_finite_test_is_used_for_divergence():
    """``finite`` decides what counts as diverged: here a state past 5.0."""
    with pytest.raises(DivergenceError) as info:
        simulate(_counter_init, _stream_step, _stream_observe, seeds=[0],
                 record_at=np.array([0, 30]), stream=TOY_STREAM,
                 finite=lambda s: s["n"] < 5)
    assert info.value.step == 5


def _count_step(state, key, t, args):
    return {"n": state["n"] + 1, "x": t.astype(jnp.float64)}


def test_step_counts_past_2_to_the_31_do_not_wrap():
    """A trivial model run past 2**31 steps: the counter, the step argument and the records
    are 64-bit; keys beyond 2**31 come from fold_in(fold_in(key, t >> 31), t mod 2**31)."""
    end = 2**31 + 5
    rec = simulate(_counter_init, _count_step, _stream_observe, seeds=[0],
                   record_at=np.array([0, 2**31 - 1, end]))
    np.testing.assert_array_equal(rec.steps, [0, 2**31 - 1, end])
    np.testing.assert_array_equal(rec.values["n"][0], [0, 2**31 - 1, end])
    assert rec.values["x"][0, -1] == end - 1


def test_32_bit_mode_refuses_runs_past_2_to_the_31():
    with jax.enable_x64(False), pytest.raises(ConfigError, match="64-bit"):
        simulate(_counter_init, _count_step, _stream_observe, seeds=[0],
                 record_at=np.array([0, 2**31]))


def test_a_state_larger_than_memory_is_refused_before_allocating():
    def huge(key, args):
        return jnp.zeros((2**20, 2**20))  # 8 TiB

    with pytest.raises(ConfigError, match="GiB"):
        simulate(huge, _count_step, _stream_observe, seeds=[0], record_at=np.array([0, 1]))


# ---- checkpoints: an interrupted run resumes --------------------------------------------


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    """Interrupted after a few groups, a run with the same checkpoint folder resumes where it
    was saved (not from step 0) and ends with the uninterrupted numbers; finished calls are
    replayed from disk."""
    from learndyn.core.checkpoint import checkpointing

    kw = dict(seeds=SEEDS, record_at=EVERY_STEP, args=ARGS, n_chunks=EVERY_STEP_CHUNKS)
    whole = simulate(init, ONLINE_STEP, observe, **kw)
    seen = []

    def interrupt(done, total, label=""):
        seen.append(done)
        if done >= 30:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), checkpointing(tmp_path, every=0.0):
        simulate(init, ONLINE_STEP, observe, progress=interrupt, **kw)
    resumed = []
    with checkpointing(tmp_path, every=0.0):
        again = simulate(init, ONLINE_STEP, observe,
                         progress=lambda d, t, label="": resumed.append(d), **kw)
        other = simulate(init, FULL_STEP, observe, **kw)  # a second call: its own file
    assert resumed[0] >= 24  # started from the last saved group, not from step 0
    np.testing.assert_allclose(again.values["W"], whole.values["W"], **TIGHT)
    np.testing.assert_allclose(again.final.params, whole.final.params, **TIGHT)
    with checkpointing(tmp_path, every=0.0):  # both calls now replay from disk
        replay = simulate(init, ONLINE_STEP, observe,
                          progress=lambda *a: pytest.fail("recomputed"), **kw)
        simulate(init, FULL_STEP, observe, progress=lambda *a: pytest.fail("recomputed"),
                 **kw)
    np.testing.assert_array_equal(replay.values["W"], again.values["W"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000.pkl", "001.pkl"]
    assert other.values["W"].shape == whole.values["W"].shape
