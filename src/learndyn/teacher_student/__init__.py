"""Two-layer teacher-student networks: online SGD and the Saad-Solla/Goldt ODEs (Goldt et al.,
NeurIPS 2019).

Public pieces: :func:`simulate.simulate` (online SGD of several settings in one compiled
program, order parameters per seed) and the ODE beside it (:func:`simulate.theory_beside`,
:func:`simulate.ode_from_simulation`), the theory (:func:`theory.generalisation_error`,
:func:`theory.integrate`, :func:`theory.fixed_point`, the laws), the final errors of
over-parameterised students (:mod:`floors`), and the studies ``teacher_student`` and
``teacher_student_overparam`` (modules of :mod:`learndyn.studies`).
"""

from . import data, floors, integrals, model, observables, online, plots, simulate, theory
from .simulate import Setting

STUDIES = ("teacher_student", "teacher_student_overparam")

__all__ = [
    "STUDIES",
    "Setting",
    "data",
    "floors",
    "integrals",
    "model",
    "observables",
    "online",
    "plots",
    "simulate",
    "theory",
]
