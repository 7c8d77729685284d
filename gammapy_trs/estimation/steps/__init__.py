"""The optional per-bin steps, each one class in one module, registered in `STEPS`.

A step runs in each bin whose fit succeeded, after the fit and after the
steps before it in `STEPS`. To add one: a module with a `~.base.BinStep`
subclass, and one entry in `STEPS` (see the developer guide).
"""

from .base import BinContext, BinStep, RunSetup
from .compare import CompareStep
from .errn_errp import ErrnErrpStep
from .flux import FluxStep
from .posterior import PosteriorStep
from .sed import SEDStep
from .ts import TSStep
from .ul import UpperLimitStep

__all__ = ["STEPS", "BinStep", "BinContext", "RunSetup", "selectable_steps"]

STEPS = [TSStep, ErrnErrpStep, UpperLimitStep, FluxStep, CompareStep, SEDStep, PosteriorStep]
"""The step classes, in the order they run in a bin."""


def selectable_steps():
    """Names of the steps for ``selection_optional``, in order."""
    return [step.name for step in STEPS if step.name is not None]
