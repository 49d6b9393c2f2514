"""Float64 where theory needs it, without touching the caller's JAX settings.

JAX computes in float32 unless 64-bit mode is on, and that mode is global state the user owns.
Theory that must be exact wraps its public functions in :func:`float64`: the call runs with
64-bit mode on (for this call and this thread only) and returns NumPy arrays, which keep their
float64 values whatever the caller's mode is. :func:`learndyn.run` computes whole studies in
64-bit mode the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import numpy as np

__all__ = ["float64"]

F = TypeVar("F", bound=Callable[..., Any])


def float64(fn: F) -> F:
    """Decorate ``fn`` to run in JAX's 64-bit mode and return its JAX arrays as NumPy arrays."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with jax.enable_x64(True):
            out = fn(*args, **kwargs)
            return jax.tree.map(lambda x: np.asarray(x) if isinstance(x, jax.Array) else x, out)

    return wrapper  # type: ignore[return-value]
