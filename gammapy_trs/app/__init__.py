"""The application: configuration, analysis, demo, figures and the command line."""
