"""The experiments: one module per registered study, named as the study.

Each module defines ``STUDY`` (:class:`learndyn.core.study.Study`): its config, presets, ``run``,
``checks`` and ``figures``. The science they use lives in the families (``learndyn.deep_linear``,
``learndyn.teacher_student``, ...). Modules are imported on demand by :mod:`learndyn.registry`.
"""

import sys
import types


class _Package(types.ModuleType):
    """This package is also ``learndyn.studies()``: once a study module is imported, Python
    binds ``learndyn.studies`` to the package, so the package answers that call too."""

    def __call__(self) -> list[str]:
        from ..registry import studies

        return studies()


sys.modules[__name__].__class__ = _Package
