"""The README example of docs/gated_linear.md runs and prints what the page says."""

import re
from pathlib import Path

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
