"""Resumable runs: the engine's state on disk, so an interrupted run continues where it was.

Inside ``with checkpointing(folder):`` every call of :func:`learndyn.core.engine.simulate`
claims the next file of ``folder`` (``000.pkl``, ``001.pkl``, ... in call order), saves its
state and records there at most every ``every`` seconds (between record groups), and, once
done, its whole result. Running the same computation again with the same folder replays the
finished calls from disk and resumes the interrupted one from its last save; a file whose
fingerprint (label, schedule, seeds, state shapes) does not match is ignored. The numbers are
those of an uninterrupted run. :func:`learndyn.run` checkpoints every run in
``<store>/.checkpoints/<run key>`` and removes the folder when the run is stored.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np

__all__ = ["Checkpoints", "checkpointing", "current"]


@dataclass
class Checkpoints:
    """A folder of engine checkpoints for one computation, and the calls claimed so far."""

    folder: Path
    every: float = 60.0
    calls: int = field(default=0)

    def claim(self) -> Path:
        """The file of the next :func:`simulate` call."""
        path = self.folder / f"{self.calls:03d}.pkl"
        self.calls += 1
        return path


_CURRENT: contextvars.ContextVar[Checkpoints | None] = contextvars.ContextVar(
    "learndyn_checkpoints", default=None)


def current() -> Checkpoints | None:
    """The active checkpoints (None outside :func:`checkpointing`)."""
    return _CURRENT.get()


@contextlib.contextmanager
def checkpointing(folder: str | Path, *, every: float = 60.0,
                  remove_when_done: bool = False) -> Iterator[Checkpoints]:
    """Checkpoint every engine run inside the block into ``folder`` (see the module
    docstring); with ``remove_when_done`` the folder is deleted when the block completes."""
    checkpoints = Checkpoints(Path(folder), every)
    token = _CURRENT.set(checkpoints)
    try:
        yield checkpoints
    finally:
        _CURRENT.reset(token)
    if remove_when_done:
        shutil.rmtree(folder, ignore_errors=True)


def fingerprint(*parts: Any) -> str:
    """A hash of what must match for a saved state to be resumed."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def leaves(tree: Any) -> list[np.ndarray]:
    """The leaves of a pytree as NumPy arrays (PRNG keys as their key data)."""
    def plain(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(x))
        return np.asarray(x)

    return [plain(x) for x in jax.tree.leaves(tree)]


def restore(like: Any, arrays: list[np.ndarray]) -> Any:
    """A pytree shaped like ``like`` (arrays or ``jax.ShapeDtypeStruct``) from :func:`leaves`."""
    out = []
    for shape, array in zip(jax.tree.leaves(like), arrays):
        if jax.dtypes.issubdtype(shape.dtype, jax.dtypes.prng_key):
            impl = getattr(shape.dtype, "_impl", None)  # the key's generator, if it says
            out.append(jax.random.wrap_key_data(array, **({"impl": impl} if impl else {})))
        else:
            out.append(jax.numpy.asarray(array))
    return jax.tree.unflatten(jax.tree.structure(like), out)


def load(path: Path | None, expected: str) -> dict | None:
    """The saved state at ``path`` if it exists, reads and matches ``expected``."""
    if path is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as f:
            saved = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError):
        return None
    return saved if isinstance(saved, dict) and saved.get("fingerprint") == expected else None


def save(path: Path, state: dict) -> None:
    """Write ``state`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class Saver:
    """Save a running simulation at most every ``every`` seconds, and its result at the end."""

    def __init__(self, path: Path | None, key: str, every: float):
        self.path, self.key, self.every = path, key, every
        self.last = time.monotonic()

    def progress(self, group: int, carry: Any, pieces: list, done_steps: int,
                 budget: int) -> None:
        if self.path is None or time.monotonic() - self.last < self.every:
            return
        save(self.path, {"fingerprint": self.key, "complete": False, "group": group,
                         "carry": leaves(carry), "pieces": pieces, "done_steps": done_steps,
                         "budget": budget})
        self.last = time.monotonic()

    def done(self, steps: np.ndarray, values: dict, final: Any) -> None:
        if self.path is not None:
            save(self.path, {"fingerprint": self.key, "complete": True, "steps": steps,
                             "values": values, "final": leaves(final)})
