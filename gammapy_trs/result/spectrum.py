"""The result container: fitted spectral parameters per time bin."""

import html
import logging
import numpy as np
import astropy.units as u
from astropy.table import Table
from astropy.time import Time
from gammapy.maps import Map, RegionGeom, TimeMapAxis
from .formats import read_result, write_result
from .lightcurve import to_lightcurve
from .plotting import plot_correlation, plot_parameter, plot_summary
from .posterior import bin_posterior, plot_corner, plot_posteriors
from .quantities import CORE_QUANTITIES
from .products import join_products, split_products
from .sed import plot_sed_map, plot_spectra, to_sed
from .variability import correlation, likelihood_ratio, variability

__all__ = ["TimeResolvedSpectrum"]

log = logging.getLogger(__name__)


class TimeResolvedSpectrum:
    """Spectral parameters of a source fitted in each of a set of time bins.

    Each per-bin quantity (a parameter, its error, the fit status, counts...)
    is a `~gammapy.maps.RegionNDMap` on a common `~gammapy.maps.TimeMapAxis`;
    ``models[i]`` is the fitted source model of bin ``i``. Instances are made
    by `~gammapy_trs.TimeResolvedSpectrumEstimator` or read from a file.

    Parameters
    ----------
    data : dict of str to `~gammapy.maps.RegionNDMap`
        Per-bin quantities, all on the same geometry with one time axis.
    models : list of `~gammapy.modeling.models.SkyModel`
        Fitted source model of each bin.
    parameter_names : list of str
        Names of the fitted parameters; each has a ``<name>_err`` entry in ``data``.
    meta : dict, optional
        Meta data (source name, number of dropped bins...). Default is None.
    descriptions : dict of str to str, optional
        Description of each quantity. Default is None, those of
        `~gammapy_trs.result.quantities.CORE_QUANTITIES` only.
    shared_parameters : `~astropy.table.Table`, optional
        Parameters shared by all bins (``name``, ``value``, ``error``, ``errn``,
        ``errp``, ``value_stacked``, ``error_stacked``, ``unit``). Default is None, none.
    products : dict of str to `~astropy.table.Table`, optional
        Per-bin products that are not one number, by name, each a table of
        one row per bin (e.g. ``"sed"``, the flux points of the "sed" step, see
        `~gammapy_trs.result.sed.sed_table`). Default is None, none.
    """

    def __init__(
        self, data, models, parameter_names, meta=None, descriptions=None, shared_parameters=None, products=None
    ):
        if not data:
            raise ValueError("No per-bin data given.")
        geom = next(iter(data.values())).geom
        if any(m.geom is not geom and m.geom != geom for m in data.values()):  # comparing geoms compares times
            raise ValueError("All quantities must share one geometry.")
        self._data = dict(data)
        self._models = list(models)
        self._parameter_names = list(parameter_names)
        self.meta = dict(meta or {})
        self._descriptions = {info.name: info.description for info in CORE_QUANTITIES}
        self._descriptions.update(descriptions or {})
        self._shared = None if shared_parameters is None else Table(shared_parameters)
        self._products = {name: Table(table) for name, table in (products or {}).items()}

        if len(self._models) != self.time_axis.nbin:
            raise ValueError(
                f"Got {len(self._models)} models for {self.time_axis.nbin} time bins."
            )
        missing = [
            name
            for par in self._parameter_names
            for name in (par, f"{par}_err")
            if name not in self._data
        ]
        if missing:
            raise ValueError(f"Missing per-bin data for parameters: {missing}")
        for name, table in self._products.items():
            if len(table) != self.time_axis.nbin:
                raise ValueError(f"Got product {name!r} for {len(table)} bins, for {self.time_axis.nbin} time bins.")

    @classmethod
    def from_bin_results(
        cls, results, time_axis, parameter_names, meta=None, quantities=None, shared_parameters=None, products=None
    ):
        """Create from the per-bin results of the estimator.

        Parameters
        ----------
        results : list
            One result per time bin, in time order, each with ``quantities`` (a
            dict) and ``model`` (`~gammapy_trs.estimation.plan.BinResult`).
        time_axis : `~gammapy.maps.TimeMapAxis`
            Time axis of the bins.
        parameter_names : list of str
            Names of the fitted parameters.
        meta : dict, optional
            Meta data. Default is None.
        quantities : list of `~gammapy_trs.result.quantities.QuantityInfo`, optional
            Declarations of the quantities, for their descriptions. Default is None.
        shared_parameters : `~astropy.table.Table`, optional
            Parameters shared by all bins, also added as per-bin columns (the
            same value in every bin). Default is None.
        products : dict of str to `~astropy.table.Table`, optional
            Per-bin products. Default is None.

        Returns
        -------
        spectrum : `TimeResolvedSpectrum`
            Container.
        """
        columns = {}
        for name in results[0].quantities:
            values = [result.quantities[name] for result in results]
            columns[name] = (
                u.Quantity(values) if isinstance(values[0], u.Quantity) else np.array(values)
            )
        descriptions = {info.name: info.description for info in quantities or []}
        for row in shared_parameters if shared_parameters is not None else []:
            name, unit = str(row["name"]), u.Unit(str(row["unit"]))
            for column, key, text in ((name, "value", "Shared by all bins: value"), (f"{name}_err", "error", "Shared by all bins: error")):
                if column not in columns:
                    columns[column] = np.full(len(results), float(row[key])) * unit
                    descriptions[column] = f"{text} of {name} (joint likelihood of all bins)"
        models = [result.model for result in results]
        return cls._from_columns(
            columns, time_axis, models, parameter_names, meta, descriptions, shared_parameters, products
        )

    @classmethod
    def _from_columns(
        cls, columns, time_axis, models, parameter_names, meta=None, descriptions=None, shared=None, products=None
    ):
        geom = RegionGeom.create(region=None, axes=[time_axis])
        data = {}
        for name, values in columns.items():
            unit = getattr(values, "unit", "") or ""
            values = getattr(values, "value", values)
            values = np.asarray(values).reshape(geom.data_shape)
            data[name] = Map.from_geom(geom, data=values, unit=unit, dtype=values.dtype)
        return cls(data, models, parameter_names, meta, descriptions, shared, products)

    @property
    def time_axis(self):
        """Time axis of the bins, a `~gammapy.maps.TimeMapAxis`."""
        return self.geom.axes["time"]

    @property
    def geom(self):
        """Geometry shared by all per-bin quantities."""
        return next(iter(self._data.values())).geom

    @property
    def parameter_names(self):
        """Names of the fitted parameters, a list of str."""
        return list(self._parameter_names)

    @property
    def available_quantities(self):
        """Names of all per-bin quantities, a list of str."""
        return list(self._data)

    @property
    def shared_parameters(self):
        """Parameters shared by all bins, an `~astropy.table.Table`, or None.

        Columns: ``name``, ``value`` and ``error`` (the joint likelihood of all
        bins), ``errn`` and ``errp`` (its profile, with "errn-errp"),
        ``value_stacked`` and ``error_stacked`` (one fit of all bins' datasets
        stacked, NaN where it failed) and ``unit``. Files written before the
        ``_stacked`` columns existed are read without them.
        """
        return None if self._shared is None else self._shared.copy()

    @property
    def products(self):
        """Per-bin products that are not one number, by name: tables of one row per bin (e.g.
        ``"sed"``, the flux points of the "sed" step), a dict."""
        return {name: table.copy() for name, table in self._products.items()}

    @property
    def descriptions(self):
        """Description of each per-bin quantity that has one, a dict of str to str."""
        return {name: self._descriptions[name] for name in self._data if self._descriptions.get(name)}

    @property
    def models(self):
        """Fitted source model of each bin, a list of `~gammapy.modeling.models.SkyModel`.

        Every model keeps the source's name, and its covariance from the bin's fit.
        """
        return list(self._models)

    @property
    def success(self):
        """Whether the fit of each bin succeeded, a bool array."""
        return self._data["success"].data.ravel().astype(bool)

    @property
    def n_bins(self):
        """Number of time bins."""
        return self.time_axis.nbin

    def __len__(self):
        return self.n_bins

    def __getitem__(self, name):
        """Per-bin quantity ``name`` as a `~gammapy.maps.RegionNDMap`."""
        try:
            return self._data[name]
        except KeyError:
            raise KeyError(
                f"No quantity {name!r}; available: {self.available_quantities}"
            ) from None

    def quantity(self, name):
        """Per-bin values of ``name`` as a 1D `~astropy.units.Quantity` (or array)."""
        m = self[name]
        values = m.data.ravel()
        return values if values.dtype.kind in "biuUSO" else values * m.unit

    def to_table(self):
        """Convert to a table with one row per time bin.

        The columns are ``time_min`` and ``time_max`` (`~astropy.time.Time`,
        UTC), ``success``, ``quality`` (the bin's flags,
        `~gammapy_trs.result.quality.QUALITY_FLAGS`), then ``<par>``,
        ``<par>_err`` and ``<par>_quality`` for each fitted parameter, then
        every other per-bin quantity (shared parameters among them), then the columns of each
        product (``<product>_<column>``, e.g. ``sed_dnde``, one vector per bin).

        Returns
        -------
        table : `~astropy.table.Table`
            Table.
        """
        axis = self.time_axis
        table = Table(meta=self._table_meta())
        table["time_min"] = Time(axis.time_min, format="isot", scale="utc")
        table["time_max"] = Time(axis.time_max, format="isot", scale="utc")
        names = [n for n in ("success", "quality") if n in self._data]
        names += [n for par in self._parameter_names for n in (par, f"{par}_err", f"{par}_quality") if n in self._data]
        names += [n for n in self._data if n not in names]
        for name in names:
            table[name] = self.quantity(name)
            table[name].info.description = self._descriptions.get(name)
        join_products(table, self._products)
        return table

    def _table_meta(self):
        meta = {key.upper(): value for key, value in self.meta.items()}
        meta["PARNAMES"] = ",".join(self._parameter_names)
        return meta

    @classmethod
    def from_table(cls, table, models, shared_parameters=None):
        """Create from a table made by `to_table`.

        Parameters
        ----------
        table : `~astropy.table.Table`
            Table with ``time_min``, ``time_max`` and the per-bin columns.
        models : list of `~gammapy.modeling.models.SkyModel`
            Fitted source model of each bin.
        shared_parameters : `~astropy.table.Table`, optional
            Parameters shared by all bins. Default is None.

        Returns
        -------
        spectrum : `TimeResolvedSpectrum`
            Container.
        """
        products, table = split_products(table)
        meta = {key.lower(): value for key, value in table.meta.items()}
        parnames = meta.pop("parnames", "")
        parameter_names = parnames.split(",") if parnames else []
        time_axis = TimeMapAxis.from_time_edges(
            Time(table["time_min"]), Time(table["time_max"]), unit="s"
        )
        names = [name for name in table.colnames if name not in ("time_min", "time_max")]
        columns = {
            name: table[name].quantity if table[name].unit else np.asarray(table[name])
            for name in names
        }
        columns["success"] = np.asarray(columns["success"], dtype=bool)
        for name, values in columns.items():
            if getattr(values, "dtype", None) is not None and values.dtype.kind == "S":
                columns[name] = np.char.decode(values, "utf-8")  # FITS strings are bytes
        descriptions = {name: table[name].description for name in names if table[name].description}
        return cls._from_columns(
            columns, time_axis, models, parameter_names, meta, descriptions, shared_parameters, products
        )

    def write(self, filename, format=None, overwrite=False):
        """Write to a FITS or ECSV file, with the per-bin models.

        The file is written atomically: a temporary file in the same folder,
        then moved into place, so that an interrupted write leaves any old file
        whole. FITS files carry checksums, verified by `read`.

        Parameters
        ----------
        filename : str or `~pathlib.Path`
            File name; ``.fits``, ``.fits.gz``, ``.ecsv`` or ``.ecsv.gz`` (any case;
            the format is that of the last suffix before ``.gz``).
        format : {"fits", "ecsv", "lightcurve"}, optional
            Format. Default is None, taken from the file name. "lightcurve" is
            a FITS file that `gammapy.estimators.FluxPoints.read` also reads
            (``format="lightcurve"``), as the light curve of `to_lightcurve`.
        overwrite : bool, optional
            Overwrite an existing file. Default is False.
        """
        write_result(self, filename, format=format, overwrite=overwrite)

    @classmethod
    def read(cls, filename, format=None):
        """Read from a file written by `write`.

        A file that is not a result, or whose checksums do not match, raises
        `~gammapy_trs.result.formats.NotAResultError`.

        Parameters
        ----------
        filename : str or `~pathlib.Path`
            File name.
        format : {"fits", "ecsv", "lightcurve"}, optional
            Format. Default is None, taken from the file name.

        Returns
        -------
        spectrum : `TimeResolvedSpectrum`
            Container.
        """
        table, models, shared = read_result(filename, format=format)
        return cls.from_table(table, models=models, shared_parameters=shared)

    def slice_by_idx(self, idx):
        """Select bins by index.

        Parameters
        ----------
        idx : slice or int
            Bins to keep.

        Returns
        -------
        spectrum : `TimeResolvedSpectrum`
            Selected bins.
        """
        if isinstance(idx, (int, np.integer)):
            idx = slice(idx, idx + 1 if idx != -1 else None)
        data = {name: m.slice_by_idx({"time": idx}) for name, m in self._data.items()}
        products = {name: table[idx] for name, table in self._products.items()}
        return self.__class__(
            data, self._models[idx], self._parameter_names, self.meta, self._descriptions, self._shared, products
        )

    def slice_by_time(self, time_min, time_max, atol="1e-6 s"):
        """Select the bins that lie within a time range.

        Parameters
        ----------
        time_min, time_max : `~astropy.time.Time`
            Time range; a bin is kept if it lies entirely inside it.
        atol : `~astropy.units.Quantity` or str, optional
            Tolerance on the time comparison. Default is "1e-6 s".

        Returns
        -------
        spectrum : `TimeResolvedSpectrum`
            Selected bins.
        """
        axis = self.time_axis
        atol = u.Quantity(atol)
        inside = (axis.time_min >= time_min - atol) & (axis.time_max <= time_max + atol)
        keep = np.flatnonzero(inside)
        if keep.size == 0:
            raise ValueError(
                f"No time bin lies within {Time(time_min).isot} - {Time(time_max).isot}."
            )
        return self.slice_by_idx(slice(keep[0], keep[-1] + 1))

    def variability(self, name, exclude_ul=True):
        """Chi-square test of a constant value of a quantity, and Fvar for fluxes.

        Only bins whose fit succeeded (and, by default, that are not upper
        limits) are used; see `gammapy_trs.result.variability.variability`.

        Parameters
        ----------
        name : str
            Quantity, e.g. "index", "amplitude" or "flux".
        exclude_ul : bool, optional
            Leave out upper-limit bins. Default is True.

        Returns
        -------
        result : dict
            ``chi2``, ``dof``, ``p_value``, ``significance``, ``mean``,
            ``mean_err``, ``fvar``, ``fvar_err``, ``fvar_note``, ``n_bins``, ``n_excluded``.
        """
        return variability(self, name, exclude_ul=exclude_ul)

    def likelihood_ratio(self, other):
        """Likelihood-ratio test between this result and another on the same bins.

        The two results must come from nested models fitted to the same data
        (e.g. a parameter free in each bin against the same parameter shared by
        all bins); the one with fewer free parameters is the null hypothesis.
        Every bin counts through its likelihood (``stat``), upper-limit and
        faint bins included; bins whose fit failed in either are left out. See
        `gammapy_trs.result.variability.likelihood_ratio`.

        Parameters
        ----------
        other : `TimeResolvedSpectrum`
            The other result.

        Returns
        -------
        result : dict
            ``ts``, ``dof``, ``p_value``, ``significance``, ``n_bins``, ``n_excluded``.
        """
        return likelihood_ratio(self, other)

    def correlation(self, x, y, exclude_ul=True):
        """Weighted Pearson and Spearman correlation of two quantities, and loop direction.

        Only bins whose fit succeeded (and, by default, that are not upper
        limits) are used; see `gammapy_trs.result.variability.correlation`.

        Parameters
        ----------
        x, y : str
            Quantities, e.g. "flux" and "index".
        exclude_ul : bool, optional
            Leave out upper-limit bins. Default is True.

        Returns
        -------
        result : dict
            ``pearson``, ``pearson_p_value``, ``spearman``, ``spearman_p_value``,
            ``loop_area``, ``loop_direction``, ``n_bins``, ``n_excluded``.
        """
        return correlation(self, x, y, exclude_ul=exclude_ul)

    def to_lightcurve(self, energy_min=None, energy_max=None):
        """Integral flux light curve as Gammapy `~gammapy.estimators.FluxPoints`.

        Parameters
        ----------
        energy_min, energy_max : `~astropy.units.Quantity`, optional
            Energy range. Default is None, that of the "flux" step if it ran,
            else 1 to 10 TeV.

        Returns
        -------
        lightcurve : `~gammapy.estimators.FluxPoints`
            Light curve (``format="lightcurve"`` when written).
        """
        return to_lightcurve(self, energy_min=energy_min, energy_max=energy_max)

    def to_sed(self):
        """Flux points of every bin as Gammapy `~gammapy.estimators.FluxPoints` on an energy
        and a time axis (needs the "sed" step); see `~gammapy_trs.result.sed.to_sed`."""
        return to_sed(self)

    def plot_spectra(self, fig=None, **kwargs):
        """Small multiples: each bin's model, error band and flux points, one panel per bin.

        Parameters
        ----------
        fig : `~matplotlib.figure.Figure`, optional
            Figure. Default is None, a new pyplot figure.
        **kwargs : dict
            Passed to `~gammapy_trs.result.sed.plot_spectra` (``bins``,
            ``sed_type``, ``energy_bounds``, ``band``, ``ncols``).

        Returns
        -------
        axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
            One axes per bin drawn.
        """
        return plot_spectra(self, fig=fig, **kwargs)

    def plot_sed_map(self, ax=None, **kwargs):
        """The flux points of every bin as a map of E² dN/dE against time and energy, limits hatched
        (needs the "sed" step); see `~gammapy_trs.result.sed.plot_sed_map`.

        Parameters
        ----------
        ax : `~matplotlib.axes.Axes`, optional
            Axes. Default is None, the current axes.
        **kwargs : dict
            Passed to `~gammapy_trs.result.sed.plot_sed_map` (``cmap``).

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            Axes.
        """
        return plot_sed_map(self, ax=ax, **kwargs)

    def plot(self, parameter, ax=None, **kwargs):
        """Plot a per-bin quantity against time, with error bars.

        Bins whose fit failed are shown as open grey markers.

        Parameters
        ----------
        parameter : str
            Name of the quantity, e.g. "index".
        ax : `~matplotlib.axes.Axes`, optional
            Axes. Default is None, the current axes.
        **kwargs : dict
            Passed to `~matplotlib.axes.Axes.errorbar`.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            Axes.
        """
        return plot_parameter(self, parameter, ax=ax, **kwargs)

    def plot_correlation(self, x, y, ax=None, **kwargs):
        """Plot one quantity against another, coloured by time (hysteresis plot).

        Parameters
        ----------
        x, y : str
            Names of the quantities, e.g. "amplitude" and "index".
        ax : `~matplotlib.axes.Axes`, optional
            Axes. Default is None, the current axes.
        **kwargs : dict
            Passed to `~matplotlib.axes.Axes.scatter`.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            Axes.
        """
        return plot_correlation(self, x, y, ax=ax, **kwargs)

    def plot_summary(self, fig=None):
        """Plot the flux (else the norm), each shape parameter and sqrt(TS) against time,
        one panel each; upper limits as arrows.

        Parameters
        ----------
        fig : `~matplotlib.figure.Figure`, optional
            Figure. Default is None, a new pyplot figure with constrained layout.

        Returns
        -------
        axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
            One axes per panel.
        """
        return plot_summary(self, fig=fig)

    def posterior(self, idx):
        """The equal-weight posterior samples of one bin (the "posterior" step).

        Parameters
        ----------
        idx : int
            Index of the bin.

        Returns
        -------
        samples : `~astropy.table.Table`
            One column per fitted parameter, in its unit; see
            `~gammapy_trs.result.posterior.bin_posterior`.
        """
        return bin_posterior(self, idx)

    def plot_posteriors(self, parameter, ax=None, **kwargs):
        """The posterior of a parameter in each bin as violins against time, next to the
        profile-likelihood values; see `~gammapy_trs.result.posterior.plot_posteriors`.

        Parameters
        ----------
        parameter : str
            A fitted parameter, e.g. "index".
        ax : `~matplotlib.axes.Axes`, optional
            Axes. Default is None, the current axes.
        **kwargs : dict
            Passed to `~gammapy_trs.result.posterior.plot_posteriors`.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            Axes.
        """
        return plot_posteriors(self, parameter, ax=ax, **kwargs)

    def plot_corner(self, idx, fig=None, **kwargs):
        """Corner plot of one bin's posterior; see `~gammapy_trs.result.posterior.plot_corner`.

        Parameters
        ----------
        idx : int
            Index of the bin.
        fig : `~matplotlib.figure.Figure`, optional
            Figure. Default is None, a new pyplot figure.
        **kwargs : dict
            Passed to `~gammapy_trs.result.posterior.plot_corner` (``bins``).

        Returns
        -------
        axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
            Axes.
        """
        return plot_corner(self, idx, fig=fig, **kwargs)

    def population(self, parameter, **kwargs):
        """Population inference on one parameter from the stored posterior samples: the
        population's mean and scatter, the Bayes factor for no scatter and each bin's shrunk
        estimate (`~gammapy_trs.result.population.population`).

        Parameters
        ----------
        parameter : str
            A fitted parameter with posterior samples, e.g. "index".
        **kwargs : dict
            Passed to `~gammapy_trs.result.population.population`.

        Returns
        -------
        population : `~gammapy_trs.result.population.Population`
            The population's result (``to_table``, ``plot``).
        """
        from .population import population

        return population(self, parameter, **kwargs)

    def __str__(self):
        axis = self.time_axis
        n_fail = int(np.sum(~self.success))
        model = self._models[0]
        spectral = type(model.spectral_model).__name__ if model.spectral_model else "-"
        lines = [
            self.__class__.__name__,
            "-" * len(self.__class__.__name__),
            "",
            f"  source         : {self.meta.get('source', model.name)} ({spectral})",
            f"  time bins      : {self.n_bins}",
            f"  time range     : {Time(axis.time_min[0], scale='utc').isot}"
            f" - {Time(axis.time_max[-1], scale='utc').isot} UTC",
            f"  dropped bins   : {self.meta.get('n_dropped', 0)} (no dataset)",
            f"  failed fits    : {n_fail}",
            f"  parameters     : {', '.join(self._parameter_names)}",
            f"  shared         : {self._shared_summary()}",
            f"  quantities     : {', '.join(self.available_quantities)}",
        ]
        return "\n".join(lines) + "\n"

    def _shared_summary(self):
        if self._shared is None:
            return "-"
        return ", ".join(self._shared_text(row) for row in self._shared)

    @staticmethod
    def _shared_text(row):
        text = f"{row['name']} = {row['value']:.4g} +- {row['error']:.2g} {row['unit']}".rstrip()
        if "value_stacked" in row.colnames and np.isfinite(row["value_stacked"]):
            text += f" (stacked: {row['value_stacked']:.4g} +- {row['error_stacked']:.2g})"
        return text

    def to_html(self, filename=None, overwrite=False, **kwargs):
        """One self-contained HTML page of the result, to share: the figures (embedded), the
        bins' table, the tests of variability and the provenance (`~gammapy_trs.result.html`).

        Parameters
        ----------
        filename : str or `~pathlib.Path`, optional
            File to write (atomically). Default is None: the page is only returned.
        overwrite : bool, optional
            Overwrite an existing file. Default is False.
        **kwargs : dict
            ``title``, ``provenance``, ``flux_states``, ``shape_blocks``, ``laws`` and ``populations``, passed to
            `~gammapy_trs.result.html.report_html`.

        Returns
        -------
        text : str
            The page.
        """
        from pathlib import Path
        from ..utils.files import atomic_write
        from .html import report_html

        if filename is not None and Path(filename).exists() and not overwrite:
            raise OSError(f"{filename} exists: use overwrite=True to replace it.")
        text = report_html(self, **kwargs)
        if filename is not None:
            atomic_write(filename, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
        return text

    def _repr_html_(self):
        return f"<pre>{html.escape(str(self))}</pre>" + self.to_table()._repr_html_()
