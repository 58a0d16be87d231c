"""Rendering for terminals and Jupyter. Imported lazily so the CLI and flows stay light."""
