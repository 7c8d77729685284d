"""Posterior of each bin's parameters by nested sampling (``"posterior"``), with the evidence."""

import numpy as np
from ...result.posterior import posterior_table
from ...result.quantities import QuantityInfo
from ..priors import missing_prior_error
from ..sampling import SamplerSettings, import_ultranest, sample_posterior
from .base import BinStep
from .compare import SHAPE_ALIASES, alternative_model, start_from_nested

__all__ = ["EDGE_PROBABILITY", "PosteriorStep"]

EDGE_PROBABILITY = 0.05
"""Posterior probability at a prior's edge (`~gammapy_trs.estimation.sampling.EDGE`) above which a
bin is flagged ``sampler_at_prior_edge``."""


class PosteriorStep(BinStep):
    """The posterior of the bin's free parameters by nested sampling (UltraNest).

    Each bin's likelihood (the engine's `~gammapy_trs.engine.FitEngine.log_likelihood`:
    the compiled statistic where it applies) is sampled with the priors set on
    the model's parameters (Gammapy's prior API; `~gammapy_trs.estimation.priors`),
    as `~gammapy.modeling.Sampler` samples it (`~gammapy_trs.estimation.sampling.sample_posterior`).
    Gives, per fitted parameter (from the sampler's weighted points), the posterior ``<par>_median`` and the central
    credible interval ``<par>_credible_lo`` / ``<par>_credible_hi`` at
    ``credible_level``; per norm the credible upper limit
    ``<norm>_credible_ul`` at ``credible_level_ul``; the ``log_evidence``
    (natural log) with its error, ``sampler_ncall`` and
    ``sampler_converged``; and, with ``compare_to``, the evidence of the
    alternative model and the ``log_bayes_factor`` (alternative over the
    source model). The equal-weight samples are the product ``"posterior"``.
    It runs also where the fit failed (the posterior does not need it).
    """

    name = "posterior"
    runs_on_failed_fit = True

    def __init__(self, setup):
        super().__init__(setup)
        import_ultranest()  # the clear error at the call, not in each bin
        options = setup.options
        self.settings = SamplerSettings.from_options(options.get("sampler_opts"))
        self.level = options.get("credible_level", 0.68)
        self.level_ul = options.get("credible_level_ul", 0.95)
        self.random_state = int(options.get("random_state", 0))
        self.priors = dict(options.get("priors") or {})
        self.units = {name: setup.source_model.parameters[idx].unit for name, idx in self.parameters}
        self.norms = [self.parameters.by_index[idx] for idx in self.parameters.norm_indices]
        self.source = setup.source_model.name
        self._check_priors(setup)
        self.alternative = None
        if options.get("compare_to") is not None:
            self.alternative = alternative_model(options["compare_to"], setup.source_model)
            self.alternative_priors = self._alternative_priors(setup, options.get("compare_priors") or {})

    def _check_priors(self, setup):
        for name, idx in self.parameters:
            if idx not in self.priors:
                raise missing_prior_error(name, self.source)
        for model in setup.groups[0].models:
            if model.name == self.source:
                continue
            for par in model.parameters.free_parameters:
                if par.prior is None:
                    raise missing_prior_error(par.name, model.name)

    def _alternative_priors(self, setup, own):
        """The priors of the alternative: its own, else the source's of the same (or aliased) name."""
        by_name = {setup.source_model.parameters[idx].name: prior for idx, prior in self.priors.items()}
        priors = {}
        for idx, par in enumerate(self.alternative.parameters):
            if par.frozen:
                continue
            prior = own.get(par.name) or by_name.get(par.name) or by_name.get(SHAPE_ALIASES.get(par.name))
            if prior is None:
                raise missing_prior_error(par.name, f"compare_to ({type(self.alternative.spectral_model).__name__})")
            priors[idx] = prior
        return priors

    def quantities(self):
        level, level_ul = f"{100 * self.level:g}%", f"{100 * self.level_ul:g}%"
        infos = []
        for name, unit in self.units.items():
            infos += [
                QuantityInfo(f"{name}_median", unit, f"Posterior median of {name}"),
                QuantityInfo(f"{name}_credible_lo", unit, f"Lower end of the central {level} credible interval of {name}"),
                QuantityInfo(f"{name}_credible_hi", unit, f"Upper end of the central {level} credible interval of {name}"),
            ]
        infos += [
            QuantityInfo(f"{name}_credible_ul", self.units[name], f"{level_ul} credible upper limit of {name}")
            for name in self.norms
        ]
        infos += [
            QuantityInfo("log_evidence", description="Natural log of the evidence (likelihood exp(-stat/2) over the priors)"),
            QuantityInfo("log_evidence_err", description="Error of log_evidence (UltraNest's)"),
            QuantityInfo("sampler_ncall", description="Number of likelihood evaluations of the sampler", default=0),
            QuantityInfo("sampler_converged", description="The sampler's insertion-order test passed", default=False),
            QuantityInfo(
                "sampler_at_prior_edge",
                description="A parameter's posterior has more than 5% of its probability in the outer 1% of its "
                "prior at an end: the prior's range shapes it",
                default=False,
            ),
        ]
        if self.alternative is not None:
            infos += [
                QuantityInfo("compare_log_evidence", description="Natural log of the evidence of compare_to"),
                QuantityInfo("log_bayes_factor", description="ln(Z of compare_to / Z of the source model)"),
                QuantityInfo("log_bayes_factor_err", description="Error of log_bayes_factor"),
            ]
        return infos

    def products(self):
        return {"posterior": posterior_table}

    def meta(self):
        return dict(
            credible_level=self.level,
            credible_level_ul=self.level_ul,
            sampler="ultranest",
            sampler_live_points=int(self.settings.live_points),
            sampler_frac_remain=float(self.settings.frac_remain),
            random_state=self.random_state,
            priors="; ".join(f"{name}: {self._prior_text(self.priors[idx])}" for name, idx in self.parameters),
        )

    @staticmethod
    def _prior_text(prior):
        values = ", ".join(f"{par.name}={par.value:.6g}" for par in prior.parameters)
        return f"{prior.tag[0]}({values})"

    def _sample(self, datasets, engine, priors_of, seed):
        likelihood = engine.log_likelihood(datasets)
        priors = [priors_of(par) for par in likelihood.parameters]
        return likelihood, sample_posterior(likelihood, priors, self.settings, seed)

    def run(self, context):
        model = context.model
        source_priors = {id(model.parameters[idx]): prior for idx, prior in self.priors.items()}
        likelihood, posterior = self._sample(
            context.datasets, context.engine, lambda par: source_priors.get(id(par), par.prior),
            [self.random_state, context.index or 0, 0],
        )
        position = {id(par): column for column, par in enumerate(likelihood.parameters)}
        values, product = {}, {}
        for name, idx in self.parameters:
            column = position[id(model.parameters[idx])]
            median, low, high = posterior.quantile(column, [0.5, (1 - self.level) / 2, (1 + self.level) / 2])
            unit = self.units[name]
            values.update({f"{name}_median": median * unit, f"{name}_credible_lo": low * unit, f"{name}_credible_hi": high * unit})
            if name in self.norms:
                values[f"{name}_credible_ul"] = posterior.quantile(column, self.level_ul) * unit
            product[name] = posterior.samples[:, column]
            product[f"log_prior_{name}"] = posterior.log_prior[:, column]
        values.update(
            log_evidence=posterior.log_evidence,
            log_evidence_err=posterior.log_evidence_err,
            sampler_ncall=posterior.ncall,
            sampler_converged=posterior.converged,
            sampler_at_prior_edge=bool(np.any(posterior.edge_fraction > EDGE_PROBABILITY)),
        )
        context.products["posterior"] = product
        if self.alternative is not None:
            values.update(self._bayes_factor(context, posterior))
        return values

    def _bayes_factor(self, context, posterior):
        # the parameters it shares with the source (e.g. its reference energy) at the bin's, as the
        # likelihood-ratio test has them (its prior ranges are then those of the same quantities)
        alternative = start_from_nested(self.alternative.copy(name=context.source), context.model)
        models = [alternative if m.name == context.source else m for m in context.datasets.models]
        copies = context.engine.copy(context.datasets, models=models)
        kept = copies.models[context.source]
        priors = {id(kept.parameters[idx]): prior for idx, prior in self.alternative_priors.items()}
        _, other = self._sample(
            copies, context.engine, lambda par: priors.get(id(par), par.prior), [self.random_state, context.index or 0, 1]
        )
        return dict(
            compare_log_evidence=other.log_evidence,
            log_bayes_factor=other.log_evidence - posterior.log_evidence,
            log_bayes_factor_err=float(np.hypot(other.log_evidence_err, posterior.log_evidence_err)),
        )
