"""The house figure style: theory lines, simulation markers over a band, a two-key legend."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from learndyn.core import plotting


@pytest.fixture
def fig_axes():
    fig, axes = plotting.figure(2, 1)
    yield fig, axes
    plt.close(fig)


def test_figure_has_a_2d_axes_grid(fig_axes):
    fig, axes = fig_axes
    assert isinstance(fig, Figure)
    assert axes.shape == (1, 2)
    np.testing.assert_allclose(fig.get_size_inches(), [8.0, 3.2])
    single, one = plotting.figure()
    assert one.shape == (1, 1)
    plt.close(single)


def test_theory_sim_and_legend(fig_axes):
    fig, axes = fig_axes
    ax = axes[0, 0]
    x = np.linspace(0.0, 5.0, 200)
    ys = np.exp(-x)[None, :] + 0.01 * np.random.default_rng(0).normal(size=(4, 200))
    plotting.theory_line(ax, x, np.exp(-x), color="C0", label="theory")
    plotting.sim_band(ax, x, ys, color="C0", label="sim", max_markers=25)
    plotting.legend_theory_sim(ax, [("mode 1", "C0"), ("mode 2", "C1")])

    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1  # fill_between: +/- one std over seeds
    theory, markers = ax.get_lines()
    assert theory.get_linestyle() == "-" and theory.get_marker() in ("None", None, "")
    np.testing.assert_allclose(theory.get_ydata(), np.exp(-x))
    assert markers.get_marker() == "o" and markers.get_linestyle() == "None"
    assert 2 <= len(markers.get_xdata()) <= 25  # thinned
    mean = ys.mean(axis=0)
    idx = np.searchsorted(x, markers.get_xdata())
    np.testing.assert_allclose(markers.get_ydata(), mean[idx])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["theory", "simulation", "mode 1", "mode 2"]
    fig.canvas.draw()  # renders without error


def test_sim_band_on_log_axis(fig_axes):
    fig, axes = fig_axes
    ax = axes[0, 1]
    ax.set_xscale("log")
    x = np.concatenate([[0.0], np.geomspace(1.0, 1e4, 60)])
    plotting.sim_band(ax, x, np.ones((3, 61)), max_markers=10)
    (markers,) = ax.get_lines()
    xs = markers.get_xdata()
    assert len(xs) >= 5 and np.all(xs > 0)
    assert np.ptp(np.log10(xs)) > 3  # spread over the decades, not bunched at the end


def test_colors():
    cs = plotting.colors(5)
    assert len(cs) == 5 and len(set(cs)) == 5
    assert len(plotting.colors(0)) == 1
