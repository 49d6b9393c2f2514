"""Self-describing results: every variable and coordinate of a study's dataset gets a
``long_name`` and, where it has one, ``units`` (the dataset conventions of
:mod:`learndyn.core.study`).

A family keeps one table ``{name: (long_name, units)}``; ``<q>_sim`` and ``<q>_theory`` may
share the entry of ``q`` and are then marked "(simulation)" / "(theory)".
"""

from __future__ import annotations

from collections.abc import Mapping

import xarray as xr

__all__ = ["label", "unlabelled"]

_KINDS = (("_sim", "simulation"), ("_theory", "theory"))


def label(ds: xr.Dataset, table: Mapping[str, tuple[str, str]], *,
          strict: bool = True) -> xr.Dataset:
    """Set ``long_name`` and ``units`` on every variable and coordinate of ``ds`` from
    ``table`` (in place; returns ``ds``). A name missing from the table raises ``KeyError``
    naming it (``strict``), or keeps its own attributes."""
    for name in map(str, ds.variables):
        entry, kind = table.get(name), ""
        if entry is None:
            for suffix, what in _KINDS:
                if name.endswith(suffix) and name[: -len(suffix)] in table:
                    entry, kind = table[name[: -len(suffix)]], what
        if entry is None:
            if strict:
                raise KeyError(f"no long_name for dataset variable '{name}'")
            continue
        long_name, units = entry
        ds[name].attrs["long_name"] = f"{long_name} ({kind})" if kind else long_name
        if units:
            ds[name].attrs["units"] = units
    return ds


def unlabelled(ds: xr.Dataset) -> list[str]:
    """Variables and coordinates without a ``long_name`` (a test asserts there are none)."""
    return [str(n) for n in ds.variables if not ds[n].attrs.get("long_name")]
