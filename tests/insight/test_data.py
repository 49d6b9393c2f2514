"""The task: block structure, pre-training levels, inputs, and the motion-means file."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from learndyn.core.config import ConfigError
from learndyn.insight import data


def test_blocks_have_exact_counts_and_balanced_answers():
    task = data.Task()
    levels, labels = (np.asarray(a) for a in data.trial_sequence(jax.random.key(3), task, 5))
    assert levels.shape == (5, task.n_trials)
    pre = levels[:, :task.n_pretrain]
    assert set(np.unique(pre)) == set(data.PRETRAIN_LEVELS)
    for net in range(5):
        for b in range(task.n_main // data.BLOCK):
            sl = slice(task.n_pretrain + b * 100, task.n_pretrain + (b + 1) * 100)
            lv, lb = levels[net, sl], labels[net, sl]
            assert np.bincount(lv, minlength=5).tolist() == list(data.LEVEL_COUNTS)
            for level, count in enumerate(data.LEVEL_COUNTS):
                assert lb[lv == level].sum() == count // 2
    assert not np.array_equal(levels[0, task.n_pretrain:], levels[1, task.n_pretrain:])


def test_phases_and_onset():
    task = data.Task()
    assert (task.n_pretrain, task.onset, task.n_trials) == (800, 1000, 1400)
    phases = task.phases()
    assert np.bincount(phases).tolist() == [800, 200, 400]
    paper = data.Task(pretrain_blocks=6, instructed_block=True)
    assert (paper.onset, paper.n_trials) == (800, 1300)
    assert paper.phases()[-1] == 3


def test_inputs_follow_their_means():
    mu = jnp.asarray([0.06, 0.09, 0.2, 0.3, 0.36])
    z = jax.random.normal(jax.random.key(0), (20000, 3))
    one = jnp.ones((), jnp.int32)

    def draw(task, predictive, label=one):
        return jax.vmap(lambda zi: jnp.stack(data.sample_inputs(
            zi, task, jnp.int32(4), label, mu, jnp.array(predictive))))(z)

    xm, xc, y = np.asarray(draw(data.Task(), True)).T
    assert np.all(y == 1) and abs(xm.mean() - 0.36) < 3e-3 and abs(xc.mean() - 0.22) < 3e-4
    _, xc, _ = np.asarray(draw(data.Task(), False)).T
    assert abs(xc.mean()) < 3e-4 and abs(xc.std() - 0.01) < 3e-4
    _, xc, _ = np.asarray(draw(data.Task(random_sign_colour=True), False)).T
    assert abs(np.abs(xc).mean() - 0.22) < 1e-3 and abs(xc.mean()) < 0.01
    xm, _, y = np.asarray(draw(data.Task(plus_minus=True), True, jnp.zeros((), jnp.int32))).T
    assert np.all(y == -1) and abs(xm.mean() + 0.36) < 3e-3


def test_synthetic_means_are_clipped_gaussians():
    mu = np.asarray(data.synthetic_motion_means(jax.random.key(1), 20000))
    assert mu.min() >= 0
    np.testing.assert_allclose(np.median(mu, axis=0), data.MEAN_MEAN, atol=0.01)


@pytest.mark.parametrize("text, message", [
    (None, "cannot read"),
    ("0.1,0.2,0.3\n", "must hold 3 rows x 5 columns"),
    ("a,b,c,d,e\n" * 3, "not a CSV of numbers"),
    ("0.1,0.2,0.3,0.4,-0.5\n" * 3, "non-negative"),
])
def test_malformed_motion_means_file(tmp_path, text, message):
    path = tmp_path / "means.csv"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match="motion_means_file") as err:
        data.load_motion_means(path, 3)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_motion_means_file_reads(tmp_path):
    path = tmp_path / "means.csv"
    path.write_text("# levels 5..45 %\n" + "0.05,0.08,0.2,0.3,0.35\n" * 3)
    np.testing.assert_allclose(data.load_motion_means(path, 3)[1], [0.05, 0.08, 0.2, 0.3, 0.35])
