"""Optimal control of learning through the average learning dynamics of linear networks.

Carrasco-Davis, Masís & Saxe, *Meta-Learning Strategies through Value Maximization in Neural
Networks*, arXiv:2310.19919 (2023). A meta-learning choice (gains, learning rate, engagement,
category proportions, the initial weights) is a control signal c(t); its value is the discounted
performance minus the cost of control over the whole of learning, computed through the unrolled
gradient-flow dynamics of a linear network (:mod:`.theory`) and maximised by gradient ascent
(:mod:`.ascent`). SGD networks driven by the same control (:mod:`.model`) check the theory.

>>> import learndyn.learning_effort as le
>>> p = le.single_neuron_problem(beta=0.3, gamma=0.99, n_steps=600)
>>> r = le.optimise(p, iterations=700, step=10.0, init=le.initial_control(p, noise=1e-3))
>>> r.value > le.value(p, le.neutral_control(p))
True

Studies: see :data:`STUDIES` (modules of :mod:`learndyn.studies`).
"""

from . import (
    ascent,
    configs,
    controls,
    data,
    model,
    observables,
    problems,
    reductions,
    report,
    theory,
)
from .ascent import (
    AscentDivergenceError,
    Result,
    initial_control,
    kkt_residual,
    optimise,
    optimise_batch,
    projected_gradient,
    stack_problems,
)
from .controls import ControlType
from .problems import (
    category_problem,
    continual_problem,
    engagement_problem,
    gain_problem,
    learning_rate_problem,
    maml_problem,
    single_neuron_problem,
    two_layer_problem,
)
from .theory import (
    Problem,
    cost_curve,
    loss_curve,
    neutral_control,
    task_losses,
    trajectory,
    value,
    value_and_grad,
)

STUDIES = (
    "effort_single_neuron",
    "effort_gain",
    "effort_learning_rate",
    "effort_engagement",
    "effort_category",
    "effort_maml",
    "effort_continual",
)

__all__ = [
    "STUDIES",
    "ascent",
    "AscentDivergenceError",
    "ControlType",
    "Problem",
    "Result",
    "category_problem",
    "configs",
    "continual_problem",
    "controls",
    "cost_curve",
    "data",
    "engagement_problem",
    "gain_problem",
    "initial_control",
    "kkt_residual",
    "learning_rate_problem",
    "loss_curve",
    "maml_problem",
    "model",
    "neutral_control",
    "observables",
    "optimise",
    "optimise_batch",
    "problems",
    "projected_gradient",
    "reductions",
    "report",
    "single_neuron_problem",
    "stack_problems",
    "task_losses",
    "theory",
    "trajectory",
    "two_layer_problem",
    "value",
    "value_and_grad",
]
