"""The example of docs/gated_linear.md runs and prints what the page says; so does its
excerpt in the README."""

import re
from pathlib import Path

import numpy as np

DOC = Path(__file__).resolve().parents[2] / "docs" / "gated_linear.md"


def test_docs_example_runs(capsys):
    text = DOC.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    assert "the mode reduction is exact" in out
    err = float(re.search(r"simulation vs reduced map: (\S+)", out).group(1))
    assert err <= 1e-10
    row = re.search(r"x -> shared -> y \[in_s, out_s\]\s+([\d.]+)", out)
    assert float(row.group(1)) > 2.8  # the shared path carries most of s_1 = 3


def test_readme_excerpt_runs_with_the_docs_data(capsys):
    """The README shows the example without its data; with the page's data it runs."""
    readme = (DOC.parents[1] / "README.md").read_text()
    excerpt = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
                   if "from learndyn.gated_linear import" in block)
    items, targets = np.eye(3), np.diag([3.0, 2.0, 1.0])
    scope = {"X": np.vstack([items, items]), "Y": np.vstack([targets, targets]),
             "context": np.repeat([1.0, 0.0], 3)}
    exec(compile(excerpt, "README.md", "exec"), scope)
    assert "the mode reduction is exact" in capsys.readouterr().out
    assert scope["ds"].path_strength_sim.sizes["seed"] == 2
