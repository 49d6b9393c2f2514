"""learndyn report: a static site of stored runs and sweeps, checked as files and in a real
headless Chromium (driven over WebDriver by chromedriver; a few lines of urllib, no Selenium)."""

import base64
import dataclasses
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from html import escape
from pathlib import Path

import pytest

import learndyn
from learndyn import cli
from learndyn.core import report, store

TESTS = Path(__file__).parent
STUDIES = ("deep_linear", "gated_generalisation")


@pytest.fixture(scope="module")
def site(run_quick, tmp_path_factory):
    """Two quick runs, a copy of one with a failing check, and a toy sweep, reported."""
    root = tmp_path_factory.mktemp("report")
    runs = [run_quick(name).path for name in STUDIES]
    failing = root / "deep_linear-failing"
    shutil.copytree(runs[0], failing)
    checks = json.loads((failing / "checks.json").read_text())
    checks[-1]["passed"] = False
    (failing / "checks.json").write_text(json.dumps(checks))
    ds = store.read_dataset(failing)  # results.nc's manifest must list the edited checks
    store._write_results(failing, ds)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEARNDYN_STUDIES", "sweep_toy=sweep_toy:TOY")
        mp.syspath_prepend(str(TESTS))
        sweep = learndyn.sweep("sweep_toy", grid={"a": [0.5, 2.0]}, seeds=2,
                               out=root / "sweep").path
        index = report.build([*runs, failing, sweep], root / "site", lookup=learndyn.get_study)
    return {"index": index, "runs": runs, "failing": failing, "sweep": sweep,
            "failed_check": checks[-1]}


def _pages(index: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in (index.parent / "runs").glob("*.html")}


def test_index_has_a_card_per_run_failures_first(site):
    html = site["index"].read_text()
    cards = re.findall(r'class="card (ok|bad)" data-run="([^"]+)"', html)
    names = [name for _, name in cards]
    assert sorted(names) == sorted([*(p.name for p in site["runs"]), "deep_linear-failing",
                                    "sweep"])
    assert cards[0] == ("bad", "deep_linear-failing")  # failures first
    assert [k for k, _ in cards[1:]] == ["ok"] * 3
    assert site["failed_check"]["name"] in html and "6/7 checks passed" in html
    for name in names:  # a card links its page and shows a thumbnail
        assert f'href="runs/{name}.html"' in html and f'src="runs/{name}/' in html
    for study in STUDIES:
        st = learndyn.get_study(study)
        assert escape(st.claim) in html and escape(st.paper) in html


def test_pages_are_self_contained(site):
    index = site["index"]
    pages = _pages(index)
    assert set(pages) == {*(p.name for p in site["runs"]), "deep_linear-failing", "sweep"}
    for page, text in [("index", index.read_text()), *pages.items()]:
        assert "<script" not in text and "<link" not in text
        assert not re.findall(r'(?:src|href)="[a-z]+:', text)  # no URL scheme: nothing fetched
        base = index.parent if page == "index" else index.parent / "runs"
        for src in re.findall(r'<img src="([^"]+)"', text):
            assert not Path(src).is_absolute() and (base / src).is_file(), (page, src)
        for href in re.findall(r'href="([^"]+)"', text):
            assert not Path(href).is_absolute() and (base / href).exists(), (page, href)


def test_run_page_shows_checks_figures_config_and_command(site, run_quick):
    result = run_quick("deep_linear")
    text = _pages(site["index"])[result.path.name]
    for check in result.checks:
        assert check.id in text and escape(check.name) in text
    assert text.count("<figure") == len(result.figures)
    assert "learndyn run deep_linear --preset quick --seeds 4" in text
    assert "results.nc" in text and "Data in results.nc" in text and "mode_strength_sim" in text
    failing = _pages(site["index"])["deep_linear-failing"]
    first_row = failing.index("<tr class=")
    assert failing.index("FAIL") > first_row and failing.index("FAIL") < failing.index(
        '<tr class="ok">')  # the failed check is the first row
    sweep = _pages(site["index"])["sweep"]
    assert "learndyn sweep sweep_toy --preset quick --grid a=0.5,2.0 --seeds 2" in sweep
    assert "a=0.5" in sweep and "a=2.0" in sweep and "mean_vs_theory" in sweep
    assert 'id="fig-headline"' in sweep


def test_reproducing_command_rebuilds_the_config(run_quick):
    result = run_quick("deep_linear")
    st = learndyn.get_study("deep_linear")
    entry = report.read_entry(result.path, "x", lookup=learndyn.get_study)
    changed = {**entry.config, "lr": 0.0015, "depths": [2, 3, 4], "plot_modes": []}
    changed_entry = dataclasses.replace(
        entry, attrs={**entry.attrs, "config": json.dumps(changed), "seeds": "[0, 1, 2]"})
    command, python = report.reproduce(changed_entry)
    words = shlex.split(command)
    assert words[:5] == ["learndyn", "run", "deep_linear", "--preset", "quick"]
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    assert sorted(s.split("=")[0] for s in sets) == ["depths", "lr"]  # plot_modes is the preset's
    assert st.make_config("quick", overrides=sets) == st.config.from_dict(changed)
    assert words[words.index("--seeds") + 1] == "3" and "seeds=3" in python
    # seeds that are not 0..N-1 cannot be given on the command line: Python says them
    odd = dataclasses.replace(entry, attrs={**entry.attrs, "seeds": "[3, 5]"})
    command, python = report.reproduce(odd)
    assert "use Python" in command and "seeds=[3, 5]" in python
    # without the study (not importable), the command points at the run's own config.toml
    blind = dataclasses.replace(entry, study=None)
    assert "--config" in report.reproduce(blind)[0]


def test_cli_report(capsys, run_quick, tmp_path, monkeypatch):
    monkeypatch.setenv("LEARNDYN_HOME", str(tmp_path / "store"))
    code = cli.main(["report"])
    _, err = capsys.readouterr()
    assert code == 2 and "no stored runs" in err and len(err.splitlines()) == 1
    path = run_quick("gated_generalisation").path
    code = cli.main(["report", str(path), "--out", str(tmp_path / "site")])
    out, _ = capsys.readouterr()
    assert code == 0 and out.strip() == str((tmp_path / "site" / "index.html").absolute())
    code = cli.main(["report", str(path), "--out", str(tmp_path / "site")])  # rebuilds
    assert code == 0 and capsys.readouterr()[0].strip().endswith("index.html")
    code = cli.main(["report", str(path), "--out", str(TESTS)])
    _, err = capsys.readouterr()
    assert code == 2 and "refusing" in err and len(err.splitlines()) == 1
    (tmp_path / "empty").mkdir()
    code = cli.main(["report", str(tmp_path / "empty")])
    _, err = capsys.readouterr()
    assert code == 2 and "not a learndyn run" in err


# ---- in a real browser --------------------------------------------------------------------
class Browser:
    """Headless Chromium over the W3C WebDriver protocol (chromedriver speaks HTTP/JSON)."""

    def __init__(self, profile: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.driver = subprocess.Popen([shutil.which("chromedriver"), f"--port={port}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                self._call("GET", "/status")
                break
            except OSError:
                time.sleep(0.05)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                "--window-size=1280,900", "--hide-scrollbars"]
        options = {"args": args}
        binary = Path("/usr/lib/chromium/chromium")  # Debian's binary behind its wrapper
        if binary.exists():
            options["binary"] = str(binary)
        caps = {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}
        session = self._call("POST", "/session", {"capabilities": caps})["sessionId"]
        self.session = f"/session/{session}"

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def open(self, path: Path) -> None:
        self._call("POST", f"{self.session}/url", {"url": path.absolute().as_uri()})

    def js(self, script: str):
        return self._call("POST", f"{self.session}/execute/sync", {"script": script, "args": []})

    def screenshot(self, path: Path) -> None:
        self._call("POST", f"{self.session}/window/rect", {"width": 1280, "height": 900})
        page, chrome = self.js("return [document.documentElement.scrollHeight, "
                               "window.outerHeight - window.innerHeight]")
        self._call("POST", f"{self.session}/window/rect",
                   {"width": 1280, "height": min(page, 6000) + chrome})
        path.write_bytes(base64.b64decode(self._call("GET", f"{self.session}/screenshot")))

    def close(self) -> None:
        try:
            self._call("DELETE", self.session)
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=10)


IMAGES = "return Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth])"


def _browser_or_skip(profile: Path) -> Browser:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        if os.environ.get("LEARNDYN_BROWSER_TESTS") == "required":
            pytest.fail("chromium and chromedriver are required here (.ci/run installs them)")
        pytest.skip("needs Chromium: apt-get install chromium chromium-driver")
    return Browser(profile)


def test_report_in_headless_chromium(site, tmp_path):
    moved = tmp_path / "moved-report"  # the site works from disk after being moved
    shutil.copytree(site["index"].parent, moved)
    with tempfile.TemporaryDirectory() as profile:
        browser = _browser_or_skip(Path(profile))
        try:
            browser.open(moved / "index.html")
            cards = browser.js("return Array.from(document.querySelectorAll('.card'))"
                               ".map(c => c.dataset.run)")
            assert sorted(cards) == sorted(p.stem for p in (moved / "runs").glob("*.html"))
            images = browser.js(IMAGES)
            assert len(images) == len(cards)
            assert all(done and width > 0 for _, done, width in images), images
            browser.screenshot(tmp_path / "index.png")
            for page in sorted((moved / "runs").glob("*.html")):
                browser.open(page)
                images = browser.js(IMAGES)
                assert images and all(done and width > 0 for _, done, width in images), images
                assert browser.js("return document.querySelectorAll('table').length") >= 3
            browser.open(moved / "runs" / f"{site['runs'][0].name}.html")
            browser.screenshot(tmp_path / "run.png")
            browser.open(moved / "runs" / "sweep.html")
            browser.screenshot(tmp_path / "sweep.png")
        finally:
            browser.close()
    for name in ("index", "run", "sweep"):
        assert (tmp_path / f"{name}.png").stat().st_size > 20_000
