"""The worked example of the README's "Adding a study": a complete study in one short file,
registered from outside the package, passes its checks, and its checks can fail."""

from pathlib import Path

import pytest

import learndyn

EXAMPLES = Path(__file__).parents[1] / "docs" / "examples"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEARNDYN_STUDIES", "online_regression=online_regression:STUDY")
        mp.syspath_prepend(str(EXAMPLES))
        yield learndyn.run("online_regression", out=tmp_path_factory.mktemp("ex") / "run")


def test_the_example_is_short_and_passes_its_checks(example):
    assert len((EXAMPLES / "online_regression.py").read_text().splitlines()) < 150
    assert example.passed and {c.id for c in example.checks} == {"mean_vs_theory",
                                                                  "noise_floor"}
    assert example.figures["error"].stat().st_size > 10_000


def test_the_example_checks_can_fail(example, recheck):
    from online_regression import STUDY

    ds = example.dataset
    assert not recheck(STUDY, ds, error_theory=ds.error_theory * 1.1)["mean_vs_theory"]
    late = ds.error_sim.copy(data=ds.error_sim.values * 1.3)
    assert not recheck(STUDY, ds, error_sim=late)["noise_floor"]
