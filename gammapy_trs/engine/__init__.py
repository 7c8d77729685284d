"""The fit engine: how a run copies, fits and profiles the datasets of a bin, behind one seam.

Two engines implement `FitEngine`: `GammapyEngine` (Gammapy's
`~gammapy.modeling.Fit`, its statistics and estimators, untouched) and
`CompiledEngine` (on-off spectra fitted on their WStat compiled with its
analytic gradient). `select_engine` chooses the engine of a run once, before
its first bin ("auto": the compiled engine where a probe on the run's first
bin finds it equal to Gammapy, else Gammapy's). The fluxes of a model
(`integral_fluxes`, `model_fluxes`) are computed here too, once for the
whole package.

Nothing outside this package imports its modules: the rest of the package
sees only the names below (``tests/test_layout.py`` checks it).
"""

from .base import FitEngine, Tie, copy_models, profile_crossing, profile_stat
from .compiled import CompiledEngine
from .fluxes import dnde_band, integral_fluxes, model_fluxes
from .gammapy import GammapyEngine
from .select import ENGINE_CHOICES, ENGINES, EngineMismatchError, probe_compiled, select_engine

__all__ = [
    "CompiledEngine",
    "ENGINES",
    "ENGINE_CHOICES",
    "EngineMismatchError",
    "FitEngine",
    "GammapyEngine",
    "Tie",
    "copy_models",
    "dnde_band",
    "integral_fluxes",
    "model_fluxes",
    "probe_compiled",
    "profile_crossing",
    "profile_stat",
    "select_engine",
]
