"""Configs: coercion, validation with one-line errors naming the field, lossless TOML/JSON."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError, dataclass
from typing import Literal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from learndyn.core.config import Config, ConfigError, param


@dataclass(frozen=True)
class Toy(Config):
    n: int = param(2, "layer width", gt=0)
    lr: float = param(0.1, "learning rate", gt=0, le=10.0)
    flag: bool = param(False, "a switch")
    name: str = param("toy", "a label")
    init: Literal["aligned", "random"] = param("aligned", "initialisation")
    xs: tuple[float, ...] = param((1.0, 0.5), "singular values", ge=0)
    temperature: float = param(0.0, "unbounded number")
    k: int | None = param(None, "optional count", ge=1)

    def validate(self) -> None:
        if self.n > 100 and self.flag:
            raise ConfigError("config field 'flag': needs n <= 100")


FIELDS = ("n", "lr", "flag", "name", "init", "xs", "temperature", "k")


def test_defaults_and_field_names():
    cfg = Toy()
    assert Toy.field_names() == FIELDS
    assert cfg.to_dict() == dict(n=2, lr=0.1, flag=False, name="toy", init="aligned",
                                 xs=(1.0, 0.5), temperature=0.0, k=None)
    with pytest.raises(FrozenInstanceError):
        cfg.n = 3  # type: ignore[misc]


def test_overrides_coerce_strings():
    cfg = Toy().with_overrides(
        ["n=3", "lr=1e-3", "flag=true", "xs=1,2,3", " name = hello world ", "init=random",
         "k=4", "temperature=-2"]
    )
    assert cfg.n == 3 and type(cfg.n) is int
    assert cfg.lr == 1e-3 and type(cfg.lr) is float
    assert cfg.flag is True
    assert cfg.xs == (1.0, 2.0, 3.0) and all(type(x) is float for x in cfg.xs)
    assert cfg.name == "hello world"
    assert cfg.init == "random"
    assert cfg.k == 4
    assert cfg.temperature == -2.0


@pytest.mark.parametrize(
    ("text", "value"),
    [("true", True), ("false", False), ("1", True), ("0", False), ("yes", True),
     ("No", False), ("TRUE", True)],
)
def test_bool_strings(text, value):
    assert Toy().with_overrides([f"flag={text}"]).flag is value


@pytest.mark.parametrize(
    ("text", "value"),
    [("[1, 2]", (1.0, 2.0)), ("(0.5,)", (0.5,)), ("3", (3.0,))],
)
def test_tuple_strings(text, value):
    assert Toy().with_overrides([f"xs={text}"]).xs == value


@dataclass(frozen=True)
class Optional_(Config):
    extra: tuple[int, ...] = param((), "optional list (may be empty)")


@pytest.mark.parametrize("text", ["", "[]"])
def test_empty_lists_only_where_the_default_is_empty(text):
    assert Optional_().with_overrides([f"extra={text}"]).extra == ()
    with pytest.raises(ConfigError, match="'xs': needs at least one value"):
        Toy().with_overrides([f"xs={text}"])


def test_lists_become_tuples_and_ints_become_floats():
    cfg = Toy.from_dict({"xs": [1, 2.5], "lr": 1, "n": 4.0})
    assert cfg.xs == (1.0, 2.5) and isinstance(cfg.xs, tuple)
    assert type(cfg.lr) is float and cfg.lr == 1.0
    assert type(cfg.n) is int and cfg.n == 4


def test_optional_field_accepts_none_strings():
    assert Toy(k=3).with_overrides(["k=none"]).k is None
    assert Toy().with_overrides(["k=null"]).k is None


def test_replace_revalidates():
    cfg = Toy().replace(n=7)
    assert cfg.n == 7
    with pytest.raises(ConfigError, match="'n'"):
        cfg.replace(n=0)


def test_at_defaults_resets_only_the_named_fields():
    toy = Toy(n=5, lr=0.3, name="a", xs=(2.0,))
    key = toy.at_defaults(("lr", "xs"))
    assert key == Toy(n=5, name="a")
    assert key == Toy(n=5, lr=0.7, name="a").at_defaults(["lr", "xs"])
    assert key != Toy(n=6, lr=0.3, name="a").at_defaults(("lr", "xs"))
    assert hash(key) == hash(Toy(n=5, name="a"))


def test_unknown_field_names_it_and_lists_fields():
    with pytest.raises(ConfigError) as info:
        Toy().with_overrides(["nn=3"])
    message = str(info.value)
    assert "'nn'" in message
    for name in FIELDS:
        assert name in message
    with pytest.raises(ConfigError, match="'bogus'"):
        Toy.from_dict({"bogus": 1})


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("n", "three", "an integer"),
        ("n", "2.5", "an integer"),
        ("n", True, "an integer"),
        ("lr", "fast", "a number"),
        ("lr", False, "a number"),
        ("flag", "maybe", "true or false"),
        ("flag", 2, "true or false"),
        ("name", 3, "a string"),
        ("xs", "1,two", "a list of a number"),
        ("xs", 3.0, "a list of a number"),
        ("k", "many", "'k'"),
    ],
)
def test_wrong_type_names_the_field(field, value, expected):
    with pytest.raises(ConfigError) as info:
        Toy.from_dict({field: value})
    message = str(info.value)
    assert f"'{field}'" in message
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("field", "value", "bound"),
    [
        ("n", 0, "> 0"),
        ("n", -3, "> 0"),
        ("lr", 0.0, "> 0"),
        ("lr", -1e-3, "> 0"),
        ("lr", 10.5, "<= 10.0"),
        ("xs", (1.0, -0.5), ">= 0"),
        ("k", 0, ">= 1"),
    ],
)
def test_out_of_range_reports_the_bound(field, value, bound):
    with pytest.raises(ConfigError) as info:
        Toy.from_dict({field: value})
    assert f"'{field}'" in str(info.value)
    assert bound in str(info.value)


def test_bounds_are_inclusive_or_exclusive_as_declared():
    assert Toy(lr=10.0).lr == 10.0  # le
    assert Toy(xs=(0.0,)).xs == (0.0,)  # ge


def test_bad_literal_lists_choices():
    with pytest.raises(ConfigError) as info:
        Toy().with_overrides(["init=orthogonal"])
    message = str(info.value)
    assert "'init'" in message and "'aligned'" in message and "'random'" in message


def test_choices_on_a_plain_field():
    @dataclass(frozen=True)
    class WithChoices(Config):
        depth: int = param(2, "depth", choices=(2, 3))

    assert WithChoices(depth=3).depth == 3
    with pytest.raises(ConfigError, match="'depth'.*2, 3"):
        WithChoices(depth=4)


@pytest.mark.parametrize(
    "assignment", ["temperature=nan", "temperature=inf", "temperature=-inf", "lr=nan",
                   "xs=1,nan", "xs=inf"],
)
def test_non_finite_numbers_are_rejected(assignment):
    field = assignment.partition("=")[0]
    with pytest.raises(ConfigError, match=f"'{field}'"):
        Toy().with_overrides([assignment])


def test_non_finite_numbers_are_rejected_from_python():
    with pytest.raises(ConfigError, match="not finite"):
        Toy(temperature=math.nan)
    with pytest.raises(ConfigError, match="not finite"):
        Toy(temperature=math.inf)


def test_validate_hook_runs_after_coercion():
    assert Toy(n=200).n == 200
    with pytest.raises(ConfigError, match="'flag'"):
        Toy().with_overrides(["n=200", "flag=yes"])


@pytest.mark.parametrize("assignment", ["noequals", "=3", "  =x"])
def test_malformed_override(assignment):
    with pytest.raises(ConfigError, match="field=value"):
        Toy().with_overrides([assignment])


def test_override_value_may_contain_equals():
    assert Toy().with_overrides(["name=a=b"]).name == "a=b"


def test_describe_lists_every_field():
    rows = Toy.describe()
    assert [r[0] for r in rows] == list(FIELDS)
    assert rows[0] == ("n", "an integer", 2, "layer width")
    assert "'aligned'" in rows[4][1]


# ---- files --------------------------------------------------------------------------------


def roundtrip(cfg: Config, tmp_path, name="config.toml") -> Config:
    file = tmp_path / name
    file.write_text(cfg.to_toml(header="a header\nover two lines"), encoding="utf-8")
    return type(cfg).from_dict(type(cfg).file_values(file))


def test_toml_round_trip(tmp_path):
    cfg = Toy(n=5, lr=1e-7, flag=True, name='quote " and \\ back\nslash', init="random",
              xs=(2.0,), temperature=-0.0, k=9)
    text = cfg.to_toml()
    assert "# learning rate" in text  # docs become comments
    back = roundtrip(cfg, tmp_path)
    assert back == cfg
    assert math.copysign(1.0, back.temperature) == -1.0
    assert roundtrip(Toy(), tmp_path) == Toy()  # None survives too


_finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 2**62),
    lr=st.floats(min_value=0.0, max_value=10.0, exclude_min=True, **_finite),
    flag=st.booleans(),
    name=st.text(max_size=30),
    init=st.sampled_from(["aligned", "random"]),
    xs=st.lists(st.floats(min_value=0.0, **_finite), min_size=1, max_size=5).map(tuple),
    temperature=st.floats(**_finite),
    k=st.none() | st.integers(1, 1000),
)
def test_toml_round_trip_property(tmp_path_factory, n, lr, flag, name, init, xs, temperature,
                                  k):
    assume(not (n > 100 and flag))  # the validate() hook
    cfg = Toy(n=n, lr=lr, flag=flag, name=name, init=init, xs=xs, temperature=temperature, k=k)
    back = roundtrip(cfg, tmp_path_factory.mktemp("rt"))
    assert back == cfg
    assert back.to_toml() == cfg.to_toml()


def test_json_file(tmp_path):
    file = tmp_path / "config.json"
    file.write_text(json.dumps({"n": 4, "xs": [0.25, 3], "init": "random", "flag": True}))
    cfg = Toy.from_dict(Toy.file_values(file))
    assert cfg == Toy(n=4, xs=(0.25, 3.0), init="random", flag=True)
    assert Toy.from_dict(json.loads(cfg.to_json())) == cfg


def test_file_with_unknown_field(tmp_path):
    file = tmp_path / "config.toml"
    file.write_text("n = 3\nwidth = 4\n")
    with pytest.raises(ConfigError) as info:
        Toy.file_values(file)
    assert "'width'" in str(info.value) and str(file) in str(info.value)


def test_file_values_are_validated_by_from_dict(tmp_path):
    file = tmp_path / "config.toml"
    file.write_text("n = -1\n")
    with pytest.raises(ConfigError, match="'n'"):
        Toy.from_dict(Toy.file_values(file))


@pytest.mark.parametrize(
    ("name", "text"),
    [("bad.toml", "n = = 3\n"), ("bad.toml", "[unclosed\n"), ("bad.json", "{n: 3"),
     ("list.json", "[1, 2]")],
)
def test_malformed_file(tmp_path, name, text):
    file = tmp_path / name
    file.write_text(text)
    with pytest.raises(ConfigError, match=name):
        Toy.file_values(file)


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Toy.file_values(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        Toy.file_values(tmp_path)  # a folder
    binary = tmp_path / "results.toml"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match="results.toml"):
        Toy.file_values(binary)


def test_from_dataset_reads_the_stored_config_or_gives_defaults():
    import xarray as xr

    cfg = Toy().replace(lr=0.5, n=7)
    assert Toy.from_dataset(xr.Dataset(attrs={"config": cfg.to_json()})) == cfg
    assert Toy.from_dataset(xr.Dataset()) == Toy()
    with pytest.raises(ConfigError, match="unknown config field 'bogus'"):
        Toy.from_dataset(xr.Dataset(attrs={"config": '{"bogus": 1}'}))
