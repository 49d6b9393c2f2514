"""Study configurations: frozen dataclasses with typed, validated, documented fields.

A study's ``Config`` subclasses :class:`Config` and declares its fields with :func:`param`::

    @dataclass(frozen=True)
    class Config(core.Config):
        lr: float = param(0.01, "learning rate eta", gt=0)
        init: Literal["aligned", "random"] = param("aligned", "initialisation")

Values are coerced to the annotated type (``"3"`` -> ``3`` for an ``int`` field, lists -> tuples),
then checked against the declared range or choices; any problem raises :class:`ConfigError`
naming the field and what it allows. Configs load from TOML or JSON files, take ``field=value``
overrides from the command line, and serialise back to TOML losslessly.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self

__all__ = ["Config", "ConfigError", "describe_fields", "param"]


class ConfigError(ValueError):
    """An invalid configuration, study name or command-line value (one-line message)."""


def param(
    default: Any,
    doc: str = "",
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: Iterable[Any] | None = None,
    empty_ok: bool | None = None,
) -> Any:
    """Declare a config field with its default, a one-line doc and its allowed range.

    Bounds apply to a number or to every element of a tuple. A tuple field may be empty when
    ``empty_ok`` (default: when its default is empty); ``choices`` restricts the value
    (for ``Literal`` fields the choices are read from the annotation).
    """
    bounds = {k: v for k, v in dict(gt=gt, ge=ge, lt=lt, le=le).items() if v is not None}
    meta = {"doc": doc, "bounds": bounds, "choices": tuple(choices) if choices else None,
            "empty_ok": default == () if empty_ok is None else empty_ok}
    return dataclasses.field(default=default, metadata=meta)


_OPS = {
    "gt": (lambda x, b: x > b, ">"),
    "ge": (lambda x, b: x >= b, ">="),
    "lt": (lambda x, b: x < b, "<"),
    "le": (lambda x, b: x <= b, "<="),
}


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(tp))
    if origin is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, str(tp)
    )


def _coerce(tp: Any, value: Any) -> Any:
    """Convert ``value`` (possibly a command-line string) to type ``tp``; raise ValueError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        for option in options:
            try:
                return _coerce(option, value)
            except ValueError:
                pass
        raise ValueError
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        raise ValueError
    if origin is tuple:
        (element, *_) = typing.get_args(tp)
        if isinstance(value, str):
            text = value.strip().removeprefix("[").removeprefix("(")
            text = text.removesuffix("]").removesuffix(")")
            value = [v.strip() for v in text.split(",") if v.strip()]
        if not isinstance(value, list | tuple):
            raise ValueError
        return tuple(_coerce(element, v) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ValueError
    if tp is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            number = float(value)
            if number.is_integer():
                return int(number)
        raise ValueError
    if tp is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            return float(value)
        raise ValueError
    if tp is str:
        if isinstance(value, str):
            return value
        raise ValueError
    raise TypeError(f"unsupported config field type {tp!r}")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base class of study configurations (see the module docstring)."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            raw = getattr(self, f.name)
            tp = hints[f.name]
            try:
                value = _coerce(tp, raw)
            except (ValueError, TypeError):
                raise ConfigError(
                    f"config field '{f.name}': expected {_describe(tp)}, got {raw!r}"
                ) from None
            object.__setattr__(self, f.name, value)
            self._check_field(f, value)
        try:
            self.validate()
        except ConfigError:
            raise
        except (ValueError, TypeError, ArithmeticError, LookupError) as err:
            raise ConfigError(f"invalid config: {err}") from None

    def _check_field(self, f: dataclasses.Field, value: Any) -> None:
        if value == () and not f.metadata.get("empty_ok", True):
            raise ConfigError(f"config field '{f.name}': needs at least one value")
        choices = f.metadata.get("choices")
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if choices and item not in choices:
                raise ConfigError(
                    f"config field '{f.name}': {item!r} is not one of "
                    + ", ".join(repr(c) for c in choices)
                )
            if isinstance(item, int | float) and not isinstance(item, bool):
                if isinstance(item, float) and not math.isfinite(item):
                    raise ConfigError(f"config field '{f.name}': {item!r} is not finite")
                for op, bound in f.metadata.get("bounds", {}).items():
                    test, symbol = _OPS[op]
                    if not test(item, bound):
                        raise ConfigError(
                            f"config field '{f.name}': must be {symbol} {bound}, got {item!r}"
                        )

    def validate(self) -> None:
        """Cross-field checks; subclasses override and raise :class:`ConfigError`."""

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Self:
        """Build from a mapping; unknown keys raise :class:`ConfigError` listing the fields."""
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(
                f"unknown config field '{unknown[0]}'; fields are: " + ", ".join(cls.field_names())
            )
        return cls(**values)

    @classmethod
    def from_dataset(cls, ds: Any) -> Self:
        """The config a result was computed with (``ds.attrs["config"]``), else the defaults."""
        text = getattr(ds, "attrs", {}).get("config")
        return cls.from_dict(json.loads(text)) if text else cls()

    def replace(self, **values: Any) -> Self:
        """A copy with some fields changed (validated again)."""
        return type(self).from_dict({**self.to_dict(), **values})

    def at_defaults(self, fields: Iterable[str]) -> Self:
        """A copy with ``fields`` at their defaults (not validated again): the cache key of
        compiled programs that take those fields as data."""
        names = set(fields)
        return dataclasses.replace(self, **{f.name: f.default for f in dataclasses.fields(self)
                                            if f.name in names})

    def with_overrides(self, assignments: Iterable[str]) -> Self:
        """Apply command-line style ``field=value`` strings (values coerced to the field type)."""
        values: dict[str, Any] = {}
        for item in assignments:
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise ConfigError(f"override '{item}' is not of the form field=value")
            values[name] = text.strip()
        return self.replace(**values)

    @classmethod
    def file_values(cls, path: str | Path) -> dict[str, Any]:
        """Read field values from a TOML or JSON file (the mapping, checked for unknown keys)."""
        values = read_values(path)
        unknown = sorted(set(values) - set(cls.field_names()))
        if unknown:
            raise ConfigError(
                f"{path}: unknown config field '{unknown[0]}'; fields are: "
                + ", ".join(cls.field_names())
            )
        return values

    # ---- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_toml(self, header: str = "") -> str:
        """TOML text that :meth:`file_values` reads back to an equal config."""
        lines = [f"# {line}" for line in header.splitlines()]
        for f in dataclasses.fields(self):
            doc = f.metadata.get("doc")
            if doc:
                lines.append(f"# {doc}")
            lines.append(f"{f.name} = {_toml_value(getattr(self, f.name))}")
        return "\n".join(lines) + "\n"

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, doc) for every field, for help texts."""
        hints = typing.get_type_hints(cls)
        return [
            (f.name, _describe(hints[f.name]), f.default, f.metadata.get("doc", ""))
            for f in dataclasses.fields(cls)
        ]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else
                                                         ("inf" if value > 0 else "-inf"))
    if isinstance(value, str):  # TOML has no surrogate pairs: escape non-ASCII as \UXXXXXXXX
        text = json.dumps(value, ensure_ascii=False)
        return "".join(c if " " <= c < "\x7f" else f"\\U{ord(c):08X}" for c in text)
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        return '"none"'
    raise TypeError(f"cannot write {value!r} to TOML")


def read_values(path: str | Path) -> dict[str, Any]:
    """Parse a TOML (``.toml``) or JSON (``.json``) file into a flat mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")  # TOML and JSON files are UTF-8
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {path}: not UTF-8 text") from None
    try:
        if path.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            values = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"malformed config file {path}: {err}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {path} must hold a table of field = value")
    return values


def describe_fields(config: type[Config]) -> list[tuple[str, str, str, str, str]]:
    """(field, type, default, allowed values, meaning) of every field of a config class."""
    hints = typing.get_type_hints(config)
    rows = []
    for f in dataclasses.fields(config):
        symbols = {op: _OPS[op][1] for op in _OPS}
        allowed = [f"{symbols[op]} {bound}" for op, bound in f.metadata.get("bounds", {}).items()]
        if f.metadata.get("choices"):
            allowed.append("one of " + ", ".join(map(repr, f.metadata["choices"])))
        default = f.default
        shown = "none" if default is None else (
            ",".join(map(str, default)) or "(empty)" if isinstance(default, tuple) else
            str(default).lower() if isinstance(default, bool) else str(default))
        rows.append((f.name, _describe(hints[f.name]), shown, "; ".join(allowed),
                     f.metadata.get("doc", "")))
    return rows
