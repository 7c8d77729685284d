"""The configuration of a time-resolved analysis: Gammapy's `~gammapy.analysis.AnalysisConfig`
plus a ``time_resolved`` section.

The Gammapy sections (``general``, ``observations``, ``datasets``, ``fit``) keep
Gammapy's names and meaning, so that an existing Gammapy analysis YAML file plus
a ``time_resolved`` section runs. The sections Gammapy uses for its own
estimators (``flux_points``, ``excess_map``, ``light_curve``) are accepted and
not used.
"""

from pathlib import Path
from typing import Literal, Optional
import yaml
from astropy.time import Time
from gammapy.analysis import AnalysisConfig
from gammapy.analysis.config import EnergyAxisConfig
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
import astropy.units as u
from ..binning import BINNING_METHODS, CRITERIA
from ..engine import ENGINE_CHOICES
from ..estimation.flux_states import STATE_METHODS
from ..estimation.steps import selectable_steps
from ..estimation.steps.compare import COMPARE_MODELS
from ..estimation.steps.ul import UL_SHAPES
from ..result.formats import FORMATS

__all__ = ["TRSConfig", "TimeResolvedConfig", "ConfigError", "DEFAULT_CONFIG"]


class ConfigError(ValueError):
    """A configuration that does not validate; the message names each field."""


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _quantity(value, unit):
    try:
        return str(u.Quantity(value).to(unit))
    except (TypeError, ValueError, u.UnitsError) as error:
        raise ValueError(f"expected a quantity in {unit} (e.g. '1 {unit}'), got {value!r}") from error


def parallel_backends():
    """The names of Gammapy's parallel backends."""
    from gammapy.utils.parallel import ParallelBackendEnum

    return [backend.value for backend in ParallelBackendEnum]


def _check_range(low, high, names):
    if not u.Quantity(low) < u.Quantity(high):
        raise ValueError(f"{names[0]} ({low}) must be below {names[1]} ({high})")


class BinningConfig(_Base):
    method: Literal[tuple(BINNING_METHODS)] = "fixed"
    start: Optional[str] = None
    stop: Optional[str] = None
    width: str = "15 min"
    p0: float = Field(0.05, gt=0, lt=1)
    criterion: Literal[CRITERIA] = "significance"
    threshold: float = 5.0
    max_gap: str = "30 min"
    max_bins: int = Field(100_000, gt=0)

    @field_validator("start", "stop")
    @classmethod
    def _time(cls, value):
        if value is None:
            return None
        try:
            return Time(value).isot
        except ValueError as error:
            raise ValueError(f"expected a time such as '2006-07-29T20:30', got {value!r}") from error

    @field_validator("width", "max_gap")
    @classmethod
    def _duration(cls, value):
        value = _quantity(value, "s")
        if not u.Quantity(value) > 0 * u.s:
            raise ValueError(f"expected a positive duration, got {value!r}")
        return value


class FluxStatesConfig(_Base):
    method: Literal[STATE_METHODS] = "quantiles"
    n_states: int = Field(3, gt=0)
    thresholds: list[str] = []
    p0: float = Field(0.05, gt=0, lt=1)

    @field_validator("thresholds")
    @classmethod
    def _fluxes(cls, values):
        return [_quantity(value, "cm-2 s-1") for value in values]


class ChangePointsConfig(_Base):
    """The ``change_points`` section: blocks of bins that share shape parameters (`find_shape_blocks`)."""

    parameters: list[str]
    p0: float = Field(0.05, gt=0, lt=1)
    penalty: Optional[float] = Field(None, ge=0)
    n_grid: Optional[int] = Field(None, ge=5)

    @field_validator("parameters", mode="before")
    @classmethod
    def _one_or_list(cls, value):
        return [value] if isinstance(value, str) else value


class LawConfig(_Base):
    """One entry of the ``laws`` section: a law of a shape parameter across the bins (`fit_law`)."""

    parameter: str
    law: str = "linear"
    covariate: Literal["flux", "time"] = "flux"
    n_sigma: Optional[float] = Field(None, gt=0)
    n_simulations: Optional[int] = Field(None, ge=1)


class PosteriorConfig(_Base):
    """The ``posterior`` section: the settings of the "posterior" step and the populations to infer."""

    credible_level: float = Field(0.68, gt=0, lt=1)
    credible_level_ul: float = Field(0.95, gt=0, lt=1)
    live_points: int = Field(400, ge=10)
    frac_remain: float = Field(0.5, gt=0, lt=1)
    n_samples: int = Field(1000, ge=10)
    min_ess: int = Field(400, ge=10)
    random_state: int = 0
    population: list[str] = []
    compare_priors: dict[str, dict] = Field(
        {}, description="Priors of compare_to's parameters, e.g. {beta: {type: UniformPrior, min: -1, max: 1}}"
    )

    @field_validator("compare_priors")
    @classmethod
    def _priors(cls, value):
        from gammapy.modeling.models import PRIOR_REGISTRY

        for name, spec in value.items():
            spec = dict(spec)
            tag = spec.pop("type", None)
            try:
                PRIOR_REGISTRY.get_cls(tag)(**spec)
            except Exception as error:  # noqa: BLE001 -- any invalid prior is the user's error here
                raise ValueError(
                    f"compare_priors of {name!r}: {spec} is not a prior ({error}); e.g. "
                    "{type: UniformPrior, min: -1, max: 1}"
                ) from None
        return value

    @field_validator("population", mode="before")
    @classmethod
    def _one_or_list(cls, value):
        return [value] if isinstance(value, str) else value


class EstimatorConfig(_Base):
    """The ``time_resolved.estimator`` section: the options of the estimator, by their names."""

    source: Optional[str] = None
    selection_optional: list[Literal[("all", *selectable_steps())]] = ["ts", "flux", "ul"]
    n_sigma: float = Field(1.0, gt=0)
    n_sigma_ul: float = Field(2.0, gt=0)
    sqrt_ts_threshold_ul: float = 2.0
    sqrt_ts_threshold_shape: float = 2.0
    ul_shape: Literal[UL_SHAPES] = "bin"
    energy_min: str = "1 TeV"
    energy_max: str = "10 TeV"
    compare_to: Optional[Literal[tuple(COMPARE_MODELS)]] = None
    shared_parameters: list[str] = []
    test_variability: list[str] = []
    flux_states: Optional[FluxStatesConfig] = None
    change_points: Optional[ChangePointsConfig] = None
    laws: list[LawConfig] = []
    posterior: PosteriorConfig = PosteriorConfig()
    sed_energy_edges: Optional[EnergyAxisConfig] = None
    parallel_backend: Literal[tuple(parallel_backends())] = "multiprocessing"
    engine: Literal[ENGINE_CHOICES] = "auto"
    atol: str = "1e-6 s"

    @field_validator("selection_optional", "test_variability", mode="before")
    @classmethod
    def _one_or_list(cls, value):
        return [value] if isinstance(value, str) else value

    @field_validator("sqrt_ts_threshold_ul", "sqrt_ts_threshold_shape")
    @classmethod
    def _not_nan(cls, value):
        if value != value:
            raise ValueError("expected a number (inf allowed), not NaN")
        return value

    @field_validator("energy_min", "energy_max")
    @classmethod
    def _energy(cls, value):
        value = _quantity(value, "TeV")
        if not u.Quantity(value) > 0 * u.TeV:
            raise ValueError(f"expected a positive energy, got {value!r}")
        return value

    @field_validator("atol")
    @classmethod
    def _tolerance(cls, value):
        value = _quantity(value, "s")
        if not u.Quantity(value) >= 0 * u.s:
            raise ValueError(f"expected a non-negative duration, got {value!r}")
        return value

    @model_validator(mode="after")
    def _range(self):
        _check_range(self.energy_min, self.energy_max, ("energy_min", "energy_max"))
        return self




class OutputConfig(_Base):
    format: Literal[tuple(FORMATS)] = "fits"
    plots: bool = True


class TimeResolvedConfig(_Base):
    """The ``time_resolved`` section: models, bins, estimator, output."""

    models: Optional[dict] = Field(
        None, description="Gammapy models (as in a models YAML file) when general.models_file is not set"
    )
    binning: BinningConfig = BinningConfig()
    estimator: EstimatorConfig = EstimatorConfig()
    output: OutputConfig = OutputConfig()

    @field_validator("models")
    @classmethod
    def _numbers(cls, value):
        return None if value is None else _yaml_numbers(value)


def _yaml_numbers(data):
    """Numbers that YAML 1.1 reads as text (``1e-10``: no dot) as numbers, in parameter fields."""
    if isinstance(data, list):
        return [_yaml_numbers(item) for item in data]
    if not isinstance(data, dict):
        return data
    result = {}
    for key, value in data.items():
        if key in ("value", "min", "max", "error") and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        result[key] = _yaml_numbers(value)
    return result


def _error_lines(error):
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        message = item["msg"].replace("Value error, ", "")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "required field missing"
        lines.append(f"  {field}: {message}")
    return lines


class TRSConfig(AnalysisConfig):
    """Configuration of ``gammapy-trs run``: Gammapy's analysis configuration plus ``time_resolved``.

    Relative paths (data store, models file, exclusion mask) are taken from the
    working directory, or else from the folder of the configuration file.

    Examples
    --------
    >>> from gammapy_trs.app.config import DEFAULT_CONFIG, TRSConfig
    >>> config = TRSConfig.from_yaml(DEFAULT_CONFIG)
    >>> config.datasets.type
    '1d'
    >>> config.time_resolved.binning.width
    '900.0 s'
    """

    time_resolved: TimeResolvedConfig = TimeResolvedConfig()
    base_dir: Optional[Path] = Field(None, exclude=True, description="folder of the configuration file")

    @classmethod
    def from_yaml(cls, text, base_dir=None):
        """Create from YAML text; raises `ConfigError` with one line per wrong field.

        Parameters
        ----------
        text : str
            YAML text.
        base_dir : `~pathlib.Path`, optional
            Folder against which relative paths are also tried. Default is None.
        """
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"the configuration is not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(
                "the configuration must be a YAML mapping of sections (observations, datasets, ...)."
            )
        data.pop("metadata", None)
        try:
            return cls(**data, base_dir=base_dir)
        except ValidationError as error:
            raise ConfigError("invalid configuration:\n" + "\n".join(_error_lines(error))) from None

    @classmethod
    def read(cls, path):
        """Read a YAML file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no configuration file {path}")
        return cls.from_yaml(path.read_text(), base_dir=path.resolve().parent)

    def resolve_path(self, path):
        """A path of the configuration as a file name: environment variables expanded, and taken
        from the configuration's folder when it does not exist from the working directory."""
        from gammapy.utils.scripts import make_path

        path = make_path(path)
        if not path.is_absolute() and not path.exists() and self.base_dir is not None:
            candidate = self.base_dir / path
            if candidate.exists():
                return candidate
        return path


DEFAULT_CONFIG = """\
# gammapy-trs configuration: `gammapy-trs run THIS_FILE`.
# Gammapy's AnalysisConfig sections (general, observations, datasets, fit) plus time_resolved.
general:
  n_jobs: 1                                  # processes for the reduction and the per-bin fits
  outdir: gammapy-trs-output                 # output folder (or: gammapy-trs run --output DIR)
  models_file: null                          # a Gammapy models YAML file; or time_resolved.models
observations:
  datastore: $GAMMAPY_DATA/hess-dl3-dr1      # folder with hdu-index and obs-index tables
  obs_ids: []                                # [] = all observations in obs_cone
  obs_cone: {frame: icrs, lon: 329.71693826 deg, lat: -30.2255890 deg, radius: 2 deg}
  required_irf: [aeff, edisp, psf]
datasets:
  type: 1d                                   # 1d (ON region) | 3d (maps)
  stack: false                               # not used: the slices of a bin are fitted jointly
  geom:
    axes:
      energy: {min: 0.4 TeV, max: 20 TeV, nbins: 10}
      energy_true: {min: 0.1 TeV, max: 40 TeV, nbins: 20}
  on_region: {frame: icrs, lon: 329.71693826 deg, lat: -30.2255890 deg, radius: 0.11 deg}
  containment_correction: true               # 1d: correct the exposure for the PSF containment
  background:
    method: reflected                        # 1d: reflected; 3d: fov_background
    exclusion: null                          # a Gammapy exclusion mask map (FITS)
    parameters: {}
  safe_mask:
    methods: [aeff-max]                      # aeff-default | aeff-max | edisp-bias | offset-max | bkg-peak
    parameters: {aeff_percent: 10}
fit:
  fit_range: {min: null, max: null}          # energy range of the fits (default: the safe range)
time_resolved:
  models:                                    # as in a Gammapy models YAML file
    components:
    - name: pks2155
      type: SkyModel
      spectral:
        type: PowerLawSpectralModel
        parameters:
        - {name: index, value: 3.0}
        - {name: amplitude, value: 2.0e-11, unit: cm-2 s-1 TeV-1}
        - {name: reference, value: 1.0, unit: TeV}
  binning:
    method: fixed                 # fixed | observation | gti | bayesian-blocks | adaptive
    start: 2006-07-29T20:30       # fixed: first bin start (default: first observation start)
    stop: 2006-07-30T02:30        # fixed: last bin stop (default: last observation stop)
    width: 15 min                 # fixed: bin width; adaptive: width of the fine slices
    p0: 0.05                      # bayesian-blocks: false-alarm probability
    criterion: significance       # adaptive: significance | excess | snr
    threshold: 5.0                # adaptive: minimum of the criterion per bin
    max_gap: 30 min               # adaptive: no bin spans a longer gap
    max_bins: 100000              # refuse more bins than this (e.g. a width of 1 ms)
  estimator:
    source: null                          # the fitted model; null = the only model
    selection_optional: [ts, flux, ul]    # any of ts, errn-errp, ul, flux, sed, posterior; or all
                                          #   (all but posterior, which needs a prior on each
                                          #   free parameter: prior: {type: UniformPrior, ...})
    n_sigma: 1                            # errn-errp: number of sigma of the profile errors
    n_sigma_ul: 2                         # ul: number of sigma of the upper limits
    sqrt_ts_threshold_ul: 2               # ul: bins below this sqrt(TS) are reported as limits
    sqrt_ts_threshold_shape: 2            # shape parameters reported where sqrt(TS) reaches this
    ul_shape: bin                         # bin (a detection's own shape) | stacked
    energy_min: 1 TeV                     # energy range of the fluxes
    energy_max: 10 TeV
    sed_energy_edges: null                # sed: e.g. {min: 0.6 TeV, max: 20 TeV, nbins: 4}
    compare_to: null                      # LogParabola | ExpCutoffPowerLaw: nested model test
    shared_parameters: []                 # parameters with one value over all bins, e.g. [beta]
    test_variability: []                  # likelihood-ratio test: are these parameters variable? [all]:
                                          #   one spectrum over the whole period
    flux_states: null                     # e.g. {method: quantiles, n_states: 3}; or thresholds:
                                          #   [1e-11 cm-2 s-1, ...]; or method: bayesian-blocks
    change_points: null                   # blocks of bins sharing a shape: {parameters: [index],
                                          #   p0: 0.05} (false-positive rate) or penalty: 9
    laws: []                              # shape as a law of the flux or time: [{parameter: index,
                                          #   law: linear, covariate: flux}] (index = a + b log10(N/N0));
                                          #   n_simulations: 100 for its p-value by simulation (faint bins)
    posterior:                            # the posterior step (nested sampling, UltraNest)
      credible_level: 0.68                #   central credible intervals
      credible_level_ul: 0.95             #   credible upper limits of the norm
      live_points: 400                    #   UltraNest's live points
      frac_remain: 0.5                    #   stop when this fraction of the evidence remains
      n_samples: 1000                     #   posterior samples kept per bin
      min_ess: 400                        #   UltraNest's least effective sample size
      random_state: 0                     #   seed (each bin's from it and its index)
      population: []                      #   population inference of these parameters, e.g. [index]
      compare_priors: {}                  #   priors of compare_to's own parameters (Bayes factor):
                                          #   {beta: {type: UniformPrior, min: -1, max: 1}}
    parallel_backend: multiprocessing     # multiprocessing | ray
    engine: auto                          # auto | compiled | gammapy: the fit engine
    atol: 1e-6 s                          # tolerance on time comparisons
  output:
    format: fits                  # fits | ecsv | lightcurve (Gammapy's FluxPoints light curve)
    plots: true
"""
"""A commented configuration, printed or written by ``gammapy-trs config``."""
