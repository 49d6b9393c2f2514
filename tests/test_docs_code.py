"""Every Python block in the README and docs/ runs as written (each in a fresh process, in an
empty folder, with its own run store). A block marked ``<!-- fragment -->`` on the line before
it needs the reader's own data or a cluster: it must still be valid Python."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- fragment -->\n)?([ \t]*)```python\n(.*?)^\2```", re.S | re.M)


def _blocks():
    for page in PAGES:
        text = page.read_text()
        for m in BLOCK.finditer(text):
            line = text[: m.start()].count("\n") + 1
            code = textwrap.dedent(m.group(3))
            yield pytest.param(code, bool(m.group(1)), id=f"{page.name}:{line}",
                               marks=pytest.mark.xdist_group("docs"))


@pytest.mark.parametrize(("code", "fragment"), list(_blocks()))
def test_code_block_runs(code, fragment, tmp_path):
    compile(code, "<block>", "exec")
    if fragment:
        return
    env = {**os.environ, "LEARNDYN_HOME": str(tmp_path / "store"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_every_page_with_code_is_covered():
    assert len(list(_blocks())) >= 15
