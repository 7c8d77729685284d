"""The joint WStat of on-off spectra and its analytic gradient, as a function of the free factors.

`FitDatasets` evaluates the statistic on arrays, but each evaluation still
goes through Gammapy's parameters (the optimiser sets every factor, the
models read them back). Here the statistic of a set of on-off spectra with
Gammapy's common spectral models (`~gammapy_trs.estimation.plain_spectra.PLAIN_MODELS`)
is compiled, once per fit, into a function of the vector of free parameter
factors that the optimiser sees, with its gradient:

* each model component contributes ``flux(values) @ response`` predicted
  counts in the fitted bins, with ``response`` the exposure times the energy
  dispersion matrix;
* the WStat of each bin is that of Gammapy's `~gammapy.stats.wstat`, with the
  background of `~gammapy.stats.get_wstat_mu_bkg`; its derivative by the
  predicted signal is the total derivative of that formula (where the
  background is the profile's minimum it reduces to
  ``2 * (1 - n_on / (mu_sig + alpha * mu_bkg))``);
* the chain rule with `~gammapy_trs.estimation.plain_spectra.PlainIntegral.gradient`
  gives the derivative by each parameter value, times its scale the
  derivative by its factor.

The numbers are those of ``FitDatasets.stat_sum`` at the same parameter values
(up to the last bits of the floating-point sums).
"""

import numpy as np
from gammapy.modeling import Parameters
from gammapy.stats import get_wstat_gof_terms
from ..utils import gammapy_internals as internals
from .fast_statistic import FitDatasets, onoff_arrays, plain_setup
from .plain_spectra import plain_integral

__all__ = ["CompiledStatistic"]


class _Component:
    """One spectral model component of one dataset, in the dataset's fitted bins.

    Its parameters' values are read when it is made (the fixed ones stay
    so); ``positions`` gives the place of each free one in the optimiser's vector.
    """

    def __init__(self, name, integral, response, parameters, positions):
        self.name = name
        self.integral = integral
        self.response = response
        self.parameters = list(parameters)
        self.values = np.array([par.value for par in self.parameters], dtype=float)
        free_index = np.array([positions.get(id(par), -1) for par in self.parameters], dtype=int)
        self.is_free = free_index >= 0
        self.free_positions = free_index[self.is_free]
        self.linked = len(set(self.free_positions)) < len(self.free_positions)  # e.g. index1 = index2

    def parameter_values(self, values_free):
        values = self.values.copy()
        values[self.is_free] = values_free[self.free_positions]
        return values

    def npred(self, values_free):
        return self.integral(self.parameter_values(values_free)) @ self.response

    def npred_batch(self, values_free):
        """The predicted counts at each row of ``values_free``, shape (number of points, number of bins)."""
        values = np.repeat(self.values[None, :], len(values_free), axis=0)
        values[:, self.is_free] = values_free[:, self.free_positions]
        return self.integral.batch(values) @ self.response

    def npred_gradient(self, values_free):
        """Derivatives of the predicted counts by the free parameters it has, their positions."""
        gradient = self.integral.gradient(self.parameter_values(values_free), self.is_free)
        return gradient @ self.response, self.free_positions


class _Spectrum:
    """The data of one on-off spectrum in its fitted bins and its model components.

    The WStat is that of `~gammapy.stats.wstat` (with the background of
    `~gammapy.stats.get_wstat_mu_bkg`), its terms that do not depend on the
    model computed once.
    """

    def __init__(self, n_on, n_off, alpha, components):
        self.n_on, self.n_off, self.alpha = n_on, n_off, alpha
        self.components = components
        self.c0 = alpha * (n_on + n_off)
        self.one_plus_alpha = 1 + alpha
        self.c4 = 4 * alpha * (alpha + 1) * n_off
        self.denominator = 2 * alpha * (alpha + 1)
        self.on_positive, self.off_positive = n_on > 0, n_off > 0
        self.all_on, self.all_off = self.on_positive.all(), self.off_positive.all()
        self.gof = get_wstat_gof_terms(n_on, n_off)
        self.gof_sum = float(np.sum(self.gof))

    def mu_sig(self, values_free):
        mu_sig = None
        for component in self.components:
            npred = component.npred(values_free)
            if not np.isfinite(npred).all():
                # Map.stack in Datasets.npred_signal: non-finite values count as zero
                npred = np.where(np.isfinite(npred), npred, 0.0)
            mu_sig = npred if mu_sig is None else mu_sig + npred
        return np.zeros(self.n_on.shape) if mu_sig is None else mu_sig

    def mu_sig_batch(self, values_free):
        """`mu_sig` at each row of ``values_free``, shape (number of points, number of bins)."""
        mu_sig = np.zeros((len(values_free),) + self.n_on.shape)
        for component in self.components:
            npred = component.npred_batch(values_free)
            mu_sig += np.where(np.isfinite(npred), npred, 0.0)
        return mu_sig

    def mu_bkg(self, mu_sig):
        c = self.c0 - self.one_plus_alpha * mu_sig
        return (c + np.sqrt(c**2 + self.c4 * mu_sig)) / self.denominator

    def stat(self, mu_sig):
        with np.errstate(all="ignore"):
            mu_bkg = self.mu_bkg(mu_sig)
            if self.all_on and self.all_off:
                # the sum of the terms as dot products; where one is not finite, term by term below
                total = 2 * (
                    np.sum(mu_sig + self.one_plus_alpha * mu_bkg)
                    - self.n_on @ np.log(mu_sig + self.alpha * mu_bkg)
                    - self.n_off @ np.log(mu_bkg)
                ) + self.gof_sum
                if np.isfinite(total):
                    return float(total)
            mu_on = np.where(self.on_positive, mu_sig + self.alpha * mu_bkg, 1.0)
            term2 = -self.n_on * np.log(mu_on)
            term3 = -self.n_off * np.log(np.where(self.off_positive, mu_bkg, 1.0))
            stat = 2 * (mu_sig + self.one_plus_alpha * mu_bkg + term2 + term3) + self.gof
            total = np.sum(stat)
            # Gammapy's nan_to_num changes nothing where every term is finite
            return float(total if np.isfinite(total) else np.sum(np.nan_to_num(stat)))

    def stat_batch(self, mu_sig):
        """`stat` of each row of ``mu_sig`` (number of points, number of bins), its operations
        broadcast over the rows: the dot products where every bin has ON and OFF counts, `stat`
        itself on the rows where they are not finite; else term by term."""
        with np.errstate(all="ignore"):
            mu_bkg = self.mu_bkg(mu_sig)
            if self.all_on and self.all_off:
                total = 2 * (
                    np.sum(mu_sig + self.one_plus_alpha * mu_bkg, axis=-1)
                    - np.log(mu_sig + self.alpha * mu_bkg) @ self.n_on
                    - np.log(mu_bkg) @ self.n_off
                ) + self.gof_sum
                for row in np.flatnonzero(~np.isfinite(total)):
                    total[row] = self.stat(mu_sig[row])
                return total
            mu_on = np.where(self.on_positive, mu_sig + self.alpha * mu_bkg, 1.0)
            term2 = -self.n_on * np.log(mu_on)
            term3 = -self.n_off * np.log(np.where(self.off_positive, mu_bkg, 1.0))
            stat = 2 * (mu_sig + self.one_plus_alpha * mu_bkg + term2 + term3) + self.gof
            total = np.sum(stat, axis=-1)
            # Gammapy's nan_to_num changes nothing where every term is finite
            return np.where(np.isfinite(total), total, np.sum(np.nan_to_num(stat), axis=-1))

    def dstat_dmu(self, mu_sig):
        """Derivative of the WStat of each bin by its predicted signal, through the background.

        The total derivative of Gammapy's formula, the background's derivative
        included: where the background is the profile's minimum its terms
        cancel, but Gammapy's root is not the minimum everywhere (e.g. a
        negative signal in a bin without ON counts). At the kink of a bin
        without OFF counts (the root's discriminant zero, e.g. no ON and no
        OFF count and no signal) it is the derivative towards more signal,
        where the background is zero.
        """
        with np.errstate(all="ignore"):
            c = self.c0 - self.one_plus_alpha * mu_sig
            d = np.sqrt(c**2 + self.c4 * mu_sig)
            mu_bkg = (c + d) / self.denominator
            d_mu_bkg = (-self.one_plus_alpha + (self.c4 / 2 - self.one_plus_alpha * c) / d) / self.denominator
            d_mu_bkg = np.where(d > 0, d_mu_bkg, 0.0)
            mu_on = mu_sig + self.alpha * mu_bkg
            on = np.where(self.on_positive, self.n_on * (1 + self.alpha * d_mu_bkg) / mu_on, 0.0)
            off = np.where(self.off_positive, self.n_off * d_mu_bkg / mu_bkg, 0.0)
            return 2 * (1 + self.one_plus_alpha * d_mu_bkg - on - off)


class CompiledStatistic:
    """The joint statistic of `FitDatasets` as a function of the free parameter factors, with its gradient.

    Made by `build`, which gives None where the datasets are not all on-off
    spectra with spectral models of `~gammapy_trs.estimation.plain_spectra.PLAIN_MODELS`
    (see ``FitDatasets``), or where a parameter has a prior or the models a
    penalty: the caller then uses Gammapy's path. The parameters fixed when it
    is built are fixed in it: build it again after changing one.

    Attributes
    ----------
    parameters : `~gammapy.modeling.Parameters`
        The free parameters, in the optimiser's order.
    scales : `~numpy.ndarray`
        Their scales (value = factor * scale).
    """

    def __init__(self, parameters, spectra):
        self.parameters = parameters
        self.scales = np.array([par.scale for par in parameters], dtype=float)
        self.spectra = spectra
        self.nfev = 0
        self.ngrad = 0

    @classmethod
    def build(cls, datasets, priors=True):
        """The compiled statistic of ``datasets`` at their current parameters, or None.

        Parameters
        ----------
        datasets : `~gammapy_trs.estimation.fast_statistic.FitDatasets`
            Datasets with their models.
        priors : bool, optional
            Whether the statistic is the datasets' total, the priors of the
            parameters included (Gammapy's ``stat_sum``): then None where a
            parameter has a prior (they are not compiled). False for the
            likelihood alone (Gammapy's ``_stat_sum_likelihood``, what a
            sampler samples), whatever the priors. Default is True.

        Returns
        -------
        statistic : `CompiledStatistic` or None
            Compiled statistic.
        """
        if not isinstance(datasets, FitDatasets):
            return None
        models = datasets.fit_models()
        if not all(datasets.fast_path) or models is None or internals.model_penalties(models):
            return None
        unique = datasets.parameters
        if priors and any(par.prior is not None for par in unique):
            return None
        free = unique.free_parameters
        if any(par.scale_transform != "lin" for par in free):
            return None
        positions = {id(par): idx for idx, par in enumerate(free)}
        state = datasets.npred_state
        spectra = []
        for dataset in datasets:
            spectrum = _compile_spectrum(dataset, state, positions)
            if spectrum is None:
                return None
            spectra.append(spectrum)
        return cls(free, spectra)

    def replaced(self, name, model):
        """The statistic with the model component ``name`` replaced by ``model``, or None.

        The data, the exposure and the energy dispersion of each spectrum stay
        (they do not depend on a spectral model); the free parameters are those
        of the other components, then ``model``'s. For a likelihood-ratio test
        against another spectral model without new copies of the datasets.

        Parameters
        ----------
        name : str
            Name of the component to replace.
        model : `~gammapy.modeling.models.SkyModel`
            Spectral model to put in its place (its parameters as they are).

        Returns
        -------
        statistic : `CompiledStatistic` or None
            Compiled statistic, None if ``model`` has no plain integral or a
            parameter that cannot be compiled.
        """
        spectral = model.spectral_model
        new = spectral.parameters.free_parameters
        if model.spatial_model or model.temporal_model or any(
            par.prior is not None or par.scale_transform != "lin" for par in new
        ):
            return None
        old = {id(par) for component in self._components(name) for par in component.parameters}
        parameters = Parameters([par for par in self.parameters if id(par) not in old] + list(new))
        positions = {id(par): idx for idx, par in enumerate(parameters)}
        spectra = []
        for spectrum in self.spectra:
            components = []
            for component in spectrum.components:
                if component.name != name:
                    components.append(
                        _Component(component.name, component.integral, component.response, component.parameters, positions)
                    )
                    continue
                integral = plain_integral(spectral, *component.integral.energy_edges)
                if integral is None:
                    return None
                components.append(_Component(name, integral, component.response, spectral.parameters, positions))
            spectra.append(_Spectrum(spectrum.n_on, spectrum.n_off, spectrum.alpha, components))
        return type(self)(parameters, spectra)

    def _components(self, name):
        return [component for spectrum in self.spectra for component in spectrum.components if component.name == name]

    def values(self, factors):
        """Parameter values of the factors."""
        return np.asarray(factors, dtype=float) * self.scales

    def __call__(self, factors):
        """Total statistic at the free parameter factors.

        Parameters
        ----------
        factors : `~numpy.ndarray`
            Factors of the free parameters.

        Returns
        -------
        stat : float
            Total statistic.
        """
        self.nfev += 1
        values = self.values(factors)
        return sum(spectrum.stat(spectrum.mu_sig(values)) for spectrum in self.spectra)

    def batch(self, factors):
        """Total statistic at each row of a batch of factors (a sampler's points), the numbers of
        `__call__` row by row.

        Parameters
        ----------
        factors : `~numpy.ndarray`
            Factors of the free parameters, shape (number of points, number of parameters).

        Returns
        -------
        stat : `~numpy.ndarray`
            Total statistic of each point.
        """
        factors = np.atleast_2d(np.asarray(factors, dtype=float))
        self.nfev += len(factors)
        values = self.values(factors)
        return sum(spectrum.stat_batch(spectrum.mu_sig_batch(values)) for spectrum in self.spectra)

    def gradient(self, factors):
        """Derivatives of the total statistic by the free parameter factors, analytic.

        Parameters
        ----------
        factors : `~numpy.ndarray`
            Factors of the free parameters.

        Returns
        -------
        gradient : `~numpy.ndarray`
            Derivative by each factor (finite: an overflow far from the best
            fit gives the largest float, as the statistic does).
        """
        self.ngrad += 1
        return self._derivatives(factors, with_value=False)[1]

    def value_and_gradient(self, factors):
        """The total statistic and its gradient, from one evaluation of the predicted counts.

        Parameters
        ----------
        factors : `~numpy.ndarray`
            Factors of the free parameters.

        Returns
        -------
        stat : float
            Total statistic, as `__call__` gives it.
        gradient : `~numpy.ndarray`
            Its derivatives, as `gradient` gives them.
        """
        self.nfev += 1
        self.ngrad += 1
        return self._derivatives(factors, with_value=True)

    def _derivatives(self, factors, with_value):
        values = self.values(factors)
        gradient = np.zeros(len(values))
        stat = 0.0
        for spectrum in self.spectra:
            mu_sig = spectrum.mu_sig(values)
            if with_value:
                stat += spectrum.stat(mu_sig)
            dstat = spectrum.dstat_dmu(mu_sig)
            for component in spectrum.components:
                dmu, positions = component.npred_gradient(values)
                if component.linked:
                    np.add.at(gradient, positions, dmu @ dstat)
                else:
                    gradient[positions] += dmu @ dstat
        with np.errstate(over="ignore", invalid="ignore"):
            return stat, np.nan_to_num(gradient * self.scales)


def _compile_spectrum(dataset, state, positions):
    """`_Spectrum` of one on-off spectrum in its fitted bins, or None if a model has no plain integral."""
    n_on, n_off, alpha, mask = onoff_arrays(dataset, state)
    select = np.ones(n_on.size, dtype=bool) if mask is None else np.ravel(mask)
    components = []
    for evaluator in dataset.evaluators.values():
        internals.update_evaluator(evaluator, dataset)
        if not evaluator.contributes:
            continue
        integral, exposure, pdf_matrix = plain_setup(evaluator, state)
        if integral is None:
            return None
        key = ("response", id(evaluator), id(dataset.mask_safe), id(dataset.mask_fit))
        response = state.get(key)
        if response is None:
            response = state[key] = (np.ravel(exposure)[:, None] * pdf_matrix)[:, select]
        components.append(
            _Component(evaluator.model.name, integral, response, evaluator.model.spectral_model.parameters, positions)
        )
    return _Spectrum(
        np.ravel(n_on)[select].astype(float),
        np.ravel(n_off)[select].astype(float),
        np.ravel(alpha)[select].astype(float),
        components,
    )
