"""Two-layer teacher-student networks: online SGD and the Saad-Solla/Goldt ODEs (NeurIPS 2019).

Public pieces: :func:`online.run` (online SGD, order parameters per seed), the theory
(:func:`theory.generalisation_error`, :func:`theory.integrate`, :func:`theory.fixed_point`) and
the studies ``teacher_student`` and ``teacher_student_overparam``.
"""

from . import data, integrals, model, observables, online, theory

STUDIES = ("teacher_student", "teacher_student_overparam")

__all__ = [
    "STUDIES",
    "data",
    "integrals",
    "model",
    "observables",
    "online",
    "theory",
]
