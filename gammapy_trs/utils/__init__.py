"""The lowest layer: source parameters, fluxes, significances and Gammapy internals."""
