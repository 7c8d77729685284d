"""Sample data and set-ups: simulated on-off spectra, the demo data store, the PKS 2155-304 night."""
