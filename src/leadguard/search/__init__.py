"""Probe to candidate list: probe intake, then the search run. A search returns candidates to
investigate, never a verdict."""
