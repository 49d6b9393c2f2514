"""The examples of docs/lazy_rich.md and docs/deep_linear.md run and print what the pages
say."""

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "lazy_rich.md"


def test_docs_example_runs(capsys):
    text = DOC.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, str(DOC), "exec"), {})
    out = capsys.readouterr().out
    rows = re.findall(r"lambda = +(\S+): max\|W2W1\(T\) - Sigma_yx\| = (\S+), "
                      r"NTK distance S\(T\) = (\S+)", out)
    values = {float(lam): (float(fit), float(s)) for lam, fit, s in rows}
    assert set(values) == {0.0, 0.5, 10.0}
    assert values[10.0][0] <= 1e-12 and values[0.5][0] <= 1e-8  # converged
    assert values[0.0][0] > 1e-3  # rich: the weakest mode is still on its plateau
    assert values[0.0][1] > 50 * values[10.0][1]  # the lazy kernel barely moves
    assert "'W2W1': (201, 5, 3)" in out and "'W2W2t': (201, 5, 5)" in out
    printed = re.search(r"```\n(lambda = .*?)```", text, re.S).group(1)
    assert printed.splitlines()[-2:] == out.strip().splitlines()[-2:]  # the reversal numbers


def test_deep_linear_docs_example_prints_what_the_page_says(capsys):
    doc = DOC.parent / "deep_linear.md"
    text = doc.read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    exec(compile(code, str(doc), "exec"), {})
    printed = re.search(r"prints\n\n```\n(.*?)```", text, re.S).group(1)
    assert capsys.readouterr().out == printed
