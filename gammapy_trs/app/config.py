"""The configuration of a time-resolved analysis (YAML), validated with pydantic."""

from pathlib import Path
from typing import Literal, Optional
import yaml
from astropy.time import Time
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
import astropy.units as u
from ..binning import BINNING_METHODS, CRITERIA
from ..estimation.flux_states import STATE_METHODS
from ..estimation.steps import selectable_steps

__all__ = ["TRSConfig", "ConfigError", "DEFAULT_CONFIG"]


class ConfigError(ValueError):
    """A configuration that does not validate; the message names each field."""


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _quantity(value, unit):
    try:
        return str(u.Quantity(value).to(unit))
    except (TypeError, ValueError, u.UnitsError) as error:
        raise ValueError(f"expected a quantity in {unit} (e.g. '1 {unit}'), got {value!r}") from error


class DataConfig(_Base):
    datastore: Path
    obs_ids: list[int] = []
    cone_radius: Optional[str] = "2 deg"
    required_irf: list[str] = ["aeff", "edisp", "psf"]

    @field_validator("cone_radius")
    @classmethod
    def _radius(cls, value):
        return None if value is None else _quantity(value, "deg")


class OnRegionConfig(_Base):
    ra: float = Field(description="deg, ICRS")
    dec: float = Field(description="deg, ICRS")
    radius: str = "0.11 deg"
    containment_correction: bool = True

    @field_validator("radius")
    @classmethod
    def _radius(cls, value):
        return _quantity(value, "deg")


def _check_range(low, high, names):
    if not u.Quantity(low) < u.Quantity(high):
        raise ValueError(f"{names[0]} ({low}) must be below {names[1]} ({high})")


class EnergyAxisConfig(_Base):
    min: str
    max: str
    nbins: int = Field(gt=0)

    @field_validator("min", "max")
    @classmethod
    def _energy(cls, value):
        return _quantity(value, "TeV")

    @model_validator(mode="after")
    def _range(self):
        _check_range(self.min, self.max, ("min", "max"))
        return self


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


class ModelConfig(_Base):
    type: Literal["PowerLaw", "LogParabola", "ExpCutoffPowerLaw"] = "PowerLaw"
    name: str = "source"
    parameters: dict[str, str | float] = {}
    frozen: list[str] = []


class FluxStatesConfig(_Base):
    method: Literal[STATE_METHODS] = "quantiles"
    n_states: int = Field(3, gt=0)
    thresholds: list[str] = []
    p0: float = Field(0.05, gt=0, lt=1)

    @field_validator("thresholds")
    @classmethod
    def _fluxes(cls, values):
        return [_quantity(value, "cm-2 s-1") for value in values]


class EstimatorConfig(_Base):
    selection_optional: list[Literal[("all", *selectable_steps())]] = ["ts", "flux", "ul"]
    energy_min: str = "1 TeV"
    energy_max: str = "10 TeV"
    compare_to: Optional[Literal["LogParabola", "ExpCutoffPowerLaw"]] = None
    shared_parameters: list[str] = []
    test_variability: list[str] = []
    flux_states: Optional[FluxStatesConfig] = None
    n_jobs: int = Field(1, gt=0)
    parallel_backend: Literal["multiprocessing", "ray"] = "multiprocessing"

    @field_validator("energy_min", "energy_max")
    @classmethod
    def _energy(cls, value):
        return _quantity(value, "TeV")

    @model_validator(mode="after")
    def _range(self):
        _check_range(self.energy_min, self.energy_max, ("energy_min", "energy_max"))
        return self


class OutputConfig(_Base):
    path: Path = Path("gammapy-trs-output")
    format: Literal["fits", "ecsv"] = "fits"
    plots: bool = True


class TRSConfig(_Base):
    """Configuration of ``gammapy-trs run``: data, ON region, axes, bins, model, estimator, output."""

    data: DataConfig
    on_region: OnRegionConfig
    energy_axis: EnergyAxisConfig
    energy_axis_true: EnergyAxisConfig
    binning: BinningConfig = BinningConfig()
    model: ModelConfig = ModelConfig()
    estimator: EstimatorConfig = EstimatorConfig()
    output: OutputConfig = OutputConfig()

    @classmethod
    def from_yaml(cls, text):
        """Create from YAML text; raises `ConfigError` with one line per wrong field."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError(f"the configuration is not valid YAML: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError("the configuration must be a YAML mapping of sections (data, on_region, ...).")
        try:
            return cls(**data)
        except ValidationError as error:
            lines = []
            for item in error.errors():
                field = ".".join(str(part) for part in item["loc"])
                message = item["msg"].replace("Value error, ", "")
                if item["type"] == "extra_forbidden":
                    message = "unknown field"
                elif item["type"] == "missing":
                    message = "required field missing"
                lines.append(f"  {field}: {message}")
            raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None

    @classmethod
    def read(cls, path):
        """Read a YAML file."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"no configuration file {path}")
        return cls.from_yaml(path.read_text())


DEFAULT_CONFIG = """\
# gammapy-trs configuration: `gammapy-trs run THIS_FILE`
data:
  datastore: $GAMMAPY_DATA/hess-dl3-dr1   # folder with hdu-index and obs-index tables
  obs_ids: []                              # observations to use; [] = all within cone_radius
  cone_radius: 2 deg                       # of the ON region centre (when obs_ids is empty)
  required_irf: [aeff, edisp, psf]
on_region:                                 # circular ON region; reflected OFF regions
  ra: 329.71693826                         # deg, ICRS
  dec: -30.2255890                         # deg, ICRS
  radius: 0.11 deg
  containment_correction: true             # correct the exposure for the PSF containment (needs psf)
energy_axis: {min: 0.4 TeV, max: 20 TeV, nbins: 10}
energy_axis_true: {min: 0.1 TeV, max: 40 TeV, nbins: 20}
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
model:
  type: PowerLaw                # PowerLaw | LogParabola | ExpCutoffPowerLaw
  name: pks2155
  parameters: {index: 3.0, amplitude: 2e-11 cm-2 s-1 TeV-1, reference: 1 TeV}
  frozen: []                    # parameters to keep fixed (reference is always fixed)
estimator:
  selection_optional: [ts, flux, ul]    # any of ts, errn-errp, ul, flux; or [all]
  energy_min: 1 TeV                     # energy range of the fluxes
  energy_max: 10 TeV
  compare_to: null                      # LogParabola | ExpCutoffPowerLaw: nested model test
  shared_parameters: []                 # parameters with one value over all bins, e.g. [beta]
  test_variability: []                  # likelihood-ratio test: are these parameters variable?
  flux_states: null                     # e.g. {method: quantiles, n_states: 3}; or thresholds:
                                        #   [1e-11 cm-2 s-1, ...]; or method: bayesian-blocks
  n_jobs: 1
  parallel_backend: multiprocessing     # multiprocessing | ray
output:
  path: gammapy-trs-output
  format: fits                  # fits | ecsv
  plots: true
"""
"""A commented configuration, printed by ``gammapy-trs config``."""
