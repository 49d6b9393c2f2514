"""A static HTML report of stored runs and sweeps (``learndyn report``).

:func:`build` writes a self-contained site: plain HTML with a little inline CSS, no script and
nothing fetched from the network, so it opens from disk and survives being moved::

    OUT/index.html           one card per run or sweep: study, paper, claim, preset, checks
                             passed / total (runs with failures first), wall time, a thumbnail
    OUT/runs/<name>.html     one page per run: claim, checks table, every figure with its
                             caption, the command that reproduces it, the config, the data
    OUT/runs/<name>/*.png    copies of the run's figures

The figures are copied; ``results.nc``, ``config.toml`` and ``checks.json`` are linked by
relative paths (they keep working when the report sits in the store and the store is moved).
A sweep (``results.nc`` with ``kind="sweep"``) gets a page with its grid, the checks of every
grid point and its headline figure. Run folders are read with :mod:`learndyn.core.store`; the
study itself (for its presets, paper and claim) comes from an optional ``lookup`` (the command
line passes the registry), so a run whose study cannot be imported still gets its page.
"""

from __future__ import annotations

import html
import json
import math
import os
import shlex
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import xarray as xr

from . import store
from .config import ConfigError
from .study import Check, Study

__all__ = ["Entry", "build", "cli_value", "find_runs", "read_entry", "reproduce"]

MARKER = ".learndyn-report"  # marks a folder as ours, so rebuilding may replace it
StudyLookup = Callable[[str], Study]


@dataclass(frozen=True)
class Entry:
    """What the report shows of one run or sweep folder."""

    path: Path
    slug: str  # page name under runs/
    attrs: dict[str, Any]
    checks: list[Check]
    figures: list[tuple[str, Path, str]]  # (name, png, caption), in the study's order
    variables: list[tuple[str, str, str, str]]  # (name, dims, long_name, units)
    sweep: dict[str, Any] | None  # grid table of a sweep (see _sweep_table)
    study: Study | None
    written: float

    @property
    def is_sweep(self) -> bool:
        return self.sweep is not None

    @property
    def name(self) -> str:
        return str(self.attrs.get("study", "?"))

    @property
    def config(self) -> dict[str, Any]:
        return json.loads(self.attrs.get("config", "{}"))

    @property
    def seeds(self) -> list[int]:
        return [int(s) for s in json.loads(self.attrs.get("seeds", "[]"))]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def about(self, key: str) -> str:
        """``paper`` or ``claim``: from the stored attrs, else from the study."""
        return str(self.attrs.get(key) or (getattr(self.study, key, "") if self.study else ""))


# ---- reading ------------------------------------------------------------------------------
def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Run and sweep folders named by ``paths``; a folder that is no run contributes the runs
    directly inside it (a store). Raises :class:`ConfigError` for a path holding none."""
    found: list[Path] = []
    for path in map(Path, paths):
        runs = [path] if store.is_run(path) else store.list_runs(path)
        if not runs:
            raise ConfigError(f"{path} is not a learndyn run or sweep and holds none")
        found += [p for p in runs if p.resolve() not in {f.resolve() for f in found}]
    return found


def read_entry(path: str | Path, slug: str, lookup: StudyLookup | None = None) -> Entry:
    """Read one run or sweep folder (the dataset lazily: only attrs and check arrays)."""
    path = Path(path)
    try:
        ds = xr.open_dataset(path / store.RESULTS, engine="h5netcdf")
    except (OSError, ValueError) as err:
        raise store.StoreError(f"{path} holds no readable learndyn run ({err})") from None
    with ds:
        attrs = dict(ds.attrs)
        variables = [(str(k), ", ".join(map(str, v.dims)), str(v.attrs.get("long_name", "")),
                      str(v.attrs.get("units", ""))) for k, v in {**ds.coords, **ds.data_vars}
                     .items()]
        sweep = _sweep_table(ds) if attrs.get("kind") == "sweep" else None
    study = None
    if lookup is not None:
        try:
            study = lookup(str(attrs.get("study")))
        except (ConfigError, ImportError):
            study = None
    captions = store.read_captions(path)
    pngs = {p.stem: p for p in sorted((path / store.FIGURES).glob("*.png"))}
    order = [n for n in captions if n in pngs] + [n for n in pngs if n not in captions]
    figures = [(n, pngs[n], captions.get(n, "")) for n in order]
    return Entry(path, slug, attrs, store.read_checks(path), figures, variables, sweep, study,
                 (path / store.RESULTS).stat().st_mtime)


def _sweep_table(ds: xr.Dataset) -> dict[str, Any]:
    """Per grid point: its values, headline and check values/thresholds/passed."""
    fields = list(json.loads(ds.attrs["grid"]))
    names = ["check_value", "check_threshold", "check_passed", "headline"]
    stacked = ds[[n for n in names if n in ds]].load().stack(point=fields)
    points = []
    for i in range(stacked.sizes["point"]):
        p = stacked.isel(point=i)
        passed = np.asarray(p["check_passed"].values, dtype=float)
        points.append({
            "values": [p[f].values.item() for f in fields],
            "headline": float(p["headline"]) if "headline" in p else math.nan,
            "value": np.asarray(p["check_value"].values, dtype=float).tolist(),
            "threshold": np.asarray(p["check_threshold"].values, dtype=float).tolist(),
            "passed": [None if math.isnan(x) else bool(x) for x in passed],
        })
    return {"fields": fields, "grid": json.loads(ds.attrs["grid"]),
            "checks": [str(c) for c in ds["check"].values], "points": points}


# ---- how to reproduce ---------------------------------------------------------------------
def cli_value(value: Any) -> str:
    """A config value as ``--set``/``--grid`` text that the config reads back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, list | tuple):
        return ",".join(cli_value(v) for v in value) if value else "[]"
    return repr(value) if isinstance(value, float) else str(value)


def _overrides(entry: Entry) -> dict[str, Any] | None:
    """Config fields that differ from the preset (None when the study or preset is unknown)."""
    preset, st = entry.attrs.get("preset"), entry.study
    if st is None or preset not in st.presets:
        return None
    try:
        stored = st.config.from_dict(entry.config).to_dict()
    except ConfigError:  # the study's fields changed since the run
        return None
    grid = entry.sweep["grid"] if entry.sweep else {}
    base = st.make_config(preset).to_dict()
    return {k: v for k, v in stored.items() if v != base.get(k) and k not in grid}


def reproduce(entry: Entry) -> tuple[str, str]:
    """(command line, Python call) that recompute ``entry`` (re-used if stored)."""
    seeds, preset, over = entry.seeds, entry.attrs.get("preset", "quick"), _overrides(entry)
    verb = "sweep" if entry.is_sweep else "run"
    words = ["learndyn", verb, entry.name, "--preset", str(preset)]
    for field, values in (entry.sweep["grid"] if entry.sweep else {}).items():
        sep = ";" if any(isinstance(v, list | tuple) for v in values) else ","
        words += ["--grid", f"{field}=" + sep.join(cli_value(v) for v in values)]
    if over is None:
        words += ["--config", str(entry.path.absolute() / store.CONFIG)]
    else:
        for k, v in over.items():
            words += ["--set", f"{k}={cli_value(v)}"]
    contiguous = seeds == list(range(len(seeds)))
    words += ["--seeds", str(len(seeds))]
    command = shlex.join(words) if contiguous else "(seeds are not 0..N-1: use Python)"
    args = [repr(entry.name), f"preset={preset!r}"]
    if entry.sweep:
        args.append(f"grid={entry.sweep['grid']!r}")
    args.append(f"seeds={len(seeds) if contiguous else seeds!r}")
    if over:
        args.append(f"overrides={over!r}")
    elif over is None:
        args.append(f"config_file={str(entry.path.absolute() / store.CONFIG)!r}")
    return command, f"import learndyn\nresult = learndyn.{verb}({', '.join(args)})"


# ---- HTML ---------------------------------------------------------------------------------
CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--link:#0969da}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328;
 margin:0}
main{max-width:1180px;margin:0 auto;padding:20px 28px 48px}
h1{font-size:1.7em;margin:.3em 0 .2em}
h2{font-size:1.2em;margin:1.8em 0 .6em;border-bottom:1px solid var(--line);padding-bottom:.2em}
a{color:var(--link);text-decoration:none}a:hover{text-decoration:underline}
.muted{color:var(--muted)}.small{font-size:.86em}.paper{font-style:italic}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:18px}
.card{border:1px solid var(--line);border-radius:8px;overflow:hidden;display:flex;
 flex-direction:column}
.card.bad{border-top:4px solid var(--bad)}.card.ok{border-top:4px solid var(--ok)}
.thumb{display:block;height:210px;border-bottom:1px solid var(--line);padding:6px}
.thumb img{width:100%;height:100%;object-fit:contain}
.card .body{padding:10px 14px 12px;display:flex;flex-direction:column;gap:5px;flex:1}
.card h3{margin:0;font-size:1.15em}.card p{margin:0}
.card .foot{margin-top:auto;padding-top:6px}
.badge{display:inline-block;padding:0 8px;border-radius:10px;font-size:.82em;
 background:var(--bg);border:1px solid var(--line);white-space:nowrap}
.badge.ok{background:#dafbe1;border-color:#aceebb;color:var(--ok)}
.badge.bad{background:#ffebe9;border-color:#ffcecb;color:var(--bad)}
ul.failed{margin:0;padding-left:1.2em;color:var(--bad);font-size:.88em}
table{border-collapse:collapse;font-size:.9em;margin:.4em 0}
th,td{padding:4px 9px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:var(--bg)}td.num{text-align:right;font-variant-numeric:tabular-nums;
 white-space:nowrap}
tr.fail td,td.fail{background:#fff1f0}.pass,td.ok{color:var(--ok);font-weight:600}
.failtxt{color:var(--bad);font-weight:600}
figure{margin:0 0 30px}figure img{max-width:100%;height:auto;border:1px solid var(--line);
 border-radius:4px}
figcaption{color:var(--muted);font-size:.93em;max-width:90ch}
pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:9px 12px;
 overflow-x:auto;font-size:.86em}
blockquote{margin:.6em 0;padding:.4em 1em;border-left:4px solid var(--link);
 background:var(--bg);font-size:1.05em}
.scroll{overflow-x:auto}code{font-size:.9em}
"""


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _url(path: str | Path) -> str:
    return quote(Path(path).as_posix(), safe="/.-_~")


def _num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.4g}"


def _duration(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    return f"{s:.1f} s" if s < 90 else (f"{s / 60:.1f} min" if s < 5400 else f"{s / 3600:.1f} h")


def _page(title: str, body: str, home: str) -> str:
    nav = f'<p class="small"><a href="{home}">← all runs</a></p>' if home else ""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="generator" content="learndyn report"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head>\n<body><main>{nav}\n{body}\n</main></body></html>\n")


def _table(header: Sequence[str], rows: Iterable[str]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    return f'<div class="scroll"><table><tr>{head}</tr>\n' + "\n".join(rows) + "</table></div>"


def _status(entry: Entry) -> str:
    n, bad = len(entry.checks), len(entry.failed)
    if bad:
        return f'<span class="badge bad">{n - bad}/{n} checks passed · {bad} failed</span>'
    return f'<span class="badge ok">{n}/{n} checks passed</span>'


def _meta(entry: Entry) -> list[str]:
    seeds = entry.seeds
    items = [f"preset {entry.attrs.get('preset', '?')}",
             f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"]
    wall = _duration(entry.attrs.get("wall_time_s"))
    if wall:
        items.append(f"wall time {wall}")
    items.append(time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.written)))
    return items


def _card(entry: Entry) -> str:
    page = f"runs/{entry.slug}.html"
    thumb = ""
    if entry.figures:
        name, _, caption = entry.figures[0]
        src = _url(f"runs/{entry.slug}/{name}.png")
        thumb = (f'<a class="thumb" href="{_url(page)}"><img src="{src}" alt="{_e(name)}" '
                 f'title="{_e(caption or name)}"></a>')
    failed = "".join(f"<li>{_e(c.name)}</li>" for c in entry.failed[:6])
    failed += "<li>…</li>" if len(entry.failed) > 6 else ""
    grid = ""
    if entry.sweep:
        grid = "<p class='small'>grid: " + "; ".join(
            f"{_e(k)} = {_e(', '.join(cli_value(v) for v in vals))}"
            for k, vals in entry.sweep["grid"].items()) + "</p>"
    badges = " ".join(f'<span class="badge">{_e(m)}</span>' for m in _meta(entry)[:-1])
    return (f'<div class="card {"bad" if entry.failed else "ok"}" data-run="{_e(entry.slug)}">'
            f'{thumb}<div class="body"><h3><a href="{_url(page)}">{_e(entry.name)}</a>'
            f"{' sweep' if entry.is_sweep else ''}</h3>"
            f"<p>{badges}</p><p>{_status(entry)}</p>"
            + (f'<ul class="failed">{failed}</ul>' if failed else "")
            + f"<p>{_e(entry.about('claim'))}</p>{grid}"
            f'<p class="small muted paper">{_e(entry.about("paper"))}</p>'
            f'<p class="small muted foot">{_e(_meta(entry)[-1])} · {_e(entry.path.name)}</p>'
            "</div></div>")


def _checks_rows(checks: Sequence[Check]) -> list[str]:
    rows = []
    for c in sorted(checks, key=lambda c: c.passed):  # failures first
        result = '<span class="pass">pass</span>' if c.passed else \
            '<span class="failtxt">FAIL</span>'
        rows.append(f'<tr class="{"ok" if c.passed else "fail"}"><td>{result}</td>'
                    f"<td>{_e(c.name)}<br><code class='muted small'>{_e(c.id)}</code></td>"
                    f'<td class="num">{_num(c.value)}</td><td>{_e(_symbol(c.comparison))}</td>'
                    f'<td class="num">{_num(c.threshold)}</td><td>{_e(c.claim)}</td></tr>')
    return rows


def _symbol(comparison: str) -> str:
    return {"<=": "≤", ">=": "≥"}.get(comparison, comparison)


def _figures(entry: Entry) -> str:
    if not entry.figures:
        return "<p class='muted'>No figures stored.</p>"
    parts = []
    for name, _, caption in entry.figures:
        if not caption and entry.is_sweep and name == "headline":
            caption = (f"{_headline_label(entry)} at every grid point (o: all checks passed, "
                       "x: some failed).")
        title = name.replace("_", " ")
        parts.append(f'<figure id="fig-{_e(name)}"><img src="{_url(f"{entry.slug}/{name}.png")}"'
                     f' alt="{_e(title)}"><figcaption><b>{_e(title)}.</b> {_e(caption)}'
                     "</figcaption></figure>")
    return "\n".join(parts)


def _headline_label(entry: Entry) -> str:
    return (getattr(entry.study, "headline_label", "") if entry.study else "") or "headline"


def _reproduce_html(entry: Entry, out: Path) -> str:
    command, python = reproduce(entry)
    runs = (out / "runs").absolute()
    links = " · ".join(
        f'<a href="{_url(os.path.relpath(entry.path.absolute() / name, runs))}">{name}</a>'
        for name in (store.RESULTS, store.CONFIG, store.CHECKS) if (entry.path / name).exists())
    return (f"<pre>{_e(command)}</pre><pre>{_e(python)}</pre>"
            "<p class='small muted'>A run with the same config, seeds and learndyn version is "
            "re-used from the store; add <code>--force</code> to recompute it. This one was "
            f"computed with learndyn {_e(entry.attrs.get('version', '?'))}.</p>"
            f"<p>Files: {links}<br><span class='small muted'>{_e(entry.path.absolute())}"
            "</span></p>")


def _config_html(entry: Entry) -> str:
    docs = {n: d for n, _, _, d in entry.study.config.describe()} if entry.study else {}
    over = _overrides(entry) or {}
    grid = entry.sweep["grid"] if entry.sweep else {}
    rows = []
    for k, v in entry.config.items():
        note = " <span class='badge'>swept</span>" if k in grid else (
            " <span class='badge'>set</span>" if k in over else "")
        rows.append(f"<tr><td><code>{_e(k)}</code>{note}</td><td><code>{_e(cli_value(v))}"
                    f"</code></td><td class='muted'>{_e(docs.get(k, ''))}</td></tr>")
    legend = ("<p class='small muted'><span class='badge'>set</span> differs from the preset"
              + ("; <span class='badge'>swept</span> varies over the grid" if grid else "")
              + "</p>")
    return legend + _table(["field", "value", "meaning"], rows)


def _data_html(entry: Entry) -> str:
    rows = [f"<tr><td><code>{_e(n)}</code></td><td>{_e(d)}</td><td>{_e(ln)}</td>"
            f"<td>{_e(u)}</td></tr>" for n, d, ln, u in entry.variables]
    return _table(["variable", "dimensions", "meaning", "units"], rows)


def _run_page(entry: Entry, out: Path) -> str:
    n_ok = len(entry.checks) - len(entry.failed)
    body = [f"<h1>{_e(entry.name)}{' sweep' if entry.sweep else ''}</h1>",
            "<p>" + " ".join(f'<span class="badge">{_e(m)}</span>' for m in _meta(entry))
            + f" {_status(entry)}</p>",
            f"<blockquote>{_e(entry.about('claim'))}</blockquote>",
            f"<p class='paper muted'>{_e(entry.about('paper'))}</p>"]
    if entry.sweep:
        body += ["<h2>Grid</h2>", _grid_html(entry), "<h2>Checks at every grid point</h2>",
                 _point_checks_html(entry)]
    else:
        body += [f"<h2>Checks: {n_ok} of {len(entry.checks)} passed</h2>",
                 _table(["result", "check", "value", "", "threshold", "claim"],
                        _checks_rows(entry.checks))]
    body += ["<h2>Figures</h2>", _figures(entry), "<h2>Reproduce</h2>",
             _reproduce_html(entry, out), "<h2>Config</h2>", _config_html(entry),
             "<h2>Data in results.nc</h2>", _data_html(entry)]
    title = f"{entry.name} {'sweep' if entry.sweep else entry.attrs.get('preset', '')}"
    return _page(title, "\n".join(body), "../index.html")


def _grid_html(entry: Entry) -> str:
    table = entry.sweep
    rows = []
    for p in table["points"]:
        known = [x for x in p["passed"] if x is not None]
        ok = sum(known) == len(known)
        cells = "".join(f"<td>{_e(cli_value(v))}</td>" for v in p["values"])
        rows.append(f'<tr class="{"ok" if ok else "fail"}">{cells}<td class="num">'
                    f'{sum(known)}/{len(known)}</td><td class="num">{_num(p["headline"])}'
                    "</td></tr>")
    header = [f"<code>{_e(f)}</code>" for f in table["fields"]]
    return _table([*header, "checks passed", _e(_headline_label(entry))], rows)


def _point_checks_html(entry: Entry) -> str:
    table = entry.sweep
    by_id: dict[str, Check] = {}
    for c in entry.checks:
        by_id.setdefault(c.id, c)
    labels = [", ".join(f"{f}={cli_value(v)}" for f, v in zip(table["fields"], p["values"]))
              for p in table["points"]]
    rows = []
    for j, cid in enumerate(table["checks"]):
        c = by_id.get(cid)
        name = c.name.split(": ", 1)[-1] if c else cid
        thresholds = {_num(p["threshold"][j]) for p in table["points"]}
        rule = f"{_symbol(c.comparison) if c else ''} {', '.join(sorted(thresholds))}"
        cells = []
        for p in table["points"]:
            passed = p["passed"][j]
            cls = "" if passed is None else ("ok" if passed else "fail")
            cells.append(f'<td class="num {cls}">{_num(p["value"][j])}'
                         + ("" if passed is None else (" ✓" if passed else " ✗")) + "</td>")
        rows.append(f"<tr><td>{_e(name)}<br><code class='muted small'>{_e(cid)}</code></td>"
                    f"<td>{_e(rule)}</td>{''.join(cells)}</tr>")
    return _table(["check", "passes if", *(_e(label) for label in labels)], rows)


def _index(entries: Sequence[Entry]) -> str:
    bad = sum(bool(e.failed) for e in entries)
    sweeps = sum(e.is_sweep for e in entries)
    summary = (f"{len(entries) - sweeps} run{'s' if len(entries) - sweeps != 1 else ''}, "
               f"{sweeps} sweep{'s' if sweeps != 1 else ''}; "
               + (f"<span class='failtxt'>{bad} with failing checks</span>" if bad
                  else "<span class='pass'>every check passed</span>"))
    stamp = time.strftime("%Y-%m-%d %H:%M")
    body = (f"<h1>learndyn report</h1><p>{summary} <span class='muted small'>· generated "
            f"{stamp}</span></p>\n<div class='cards'>\n"
            + "\n".join(_card(e) for e in entries) + "\n</div>")
    return _page("learndyn report", body, "")


# ---- the site -----------------------------------------------------------------------------
def _slug(name: str, taken: set[str]) -> str:
    base = "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip(".") or "run"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}-{i}", i + 1
    taken.add(slug)
    return slug


def build(paths: Sequence[str | Path], out: str | Path, *,
          lookup: StudyLookup | None = None) -> Path:
    """Write the report of the runs and sweeps in ``paths`` (see :func:`find_runs`) to ``out``
    and return the path of its ``index.html``.

    ``lookup(study_name) -> Study`` supplies presets (for the reproducing command), field
    descriptions, paper and claim; without it the command names the run's ``config.toml``.
    Cards are ordered: runs with failing checks first, then by study, newest first.

    Raises:
        ConfigError: a path holds no run, or ``out`` holds files that are not a report.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / MARKER).exists())):
        raise ConfigError(f"refusing to write the report into {out}: it holds other files")
    taken: set[str] = set()
    entries = [read_entry(p, _slug(p.name, taken), lookup) for p in find_runs(paths)]
    entries.sort(key=lambda e: (-e.written))
    entries.sort(key=lambda e: (not e.failed, e.name))
    runs = out / "runs"
    if runs.exists():
        shutil.rmtree(runs)
    runs.mkdir(parents=True)
    (out / MARKER).write_text("written by learndyn report; rebuilding replaces this folder\n")
    for entry in entries:
        (runs / entry.slug).mkdir()
        for name, png, _ in entry.figures:
            shutil.copyfile(png, runs / entry.slug / f"{name}.png")
        (runs / f"{entry.slug}.html").write_text(_run_page(entry, out), encoding="utf-8")
    index = out / "index.html"
    text = _index(entries)
    store.atomic_write(index, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return index.absolute()

