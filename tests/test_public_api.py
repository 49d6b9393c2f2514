"""The public surface: every name in every ``__all__`` imports; importing changes no global
state."""

import importlib
import pkgutil
import subprocess
import sys

import pytest

import learndyn

MODULES = sorted(m.name for m in pkgutil.walk_packages(learndyn.__path__, "learndyn.")
                 if m.name != "learndyn.__main__")


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_imports(module):
    mod = importlib.import_module(module)
    for name in getattr(mod, "__all__", ()):
        assert hasattr(mod, name), f"{module}.__all__ names {name}, which it lacks"


def test_importing_learndyn_changes_no_global_state():
    code = ("import jax, matplotlib; backend = matplotlib.get_backend(); "
            "import learndyn, learndyn.core, learndyn.teacher_student, learndyn.alignment, "
            "learndyn.studies.deep_linear; "
            "assert not jax.config.jax_enable_x64; "
            "assert matplotlib.get_backend() == backend")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_family_lists_its_studies():
    families = {m.split(".")[1] for m in MODULES if m.count(".") == 1
                and importlib.import_module(m).__dict__.get("STUDIES") is not None}
    listed = [s for f in families for s in importlib.import_module(f"learndyn.{f}").STUDIES]
    assert sorted(listed) == sorted(learndyn.studies())
