"""Accuracy evaluation in NIST's terms: protocols -> score files -> metrics -> reports/records.

Metrics are computed from score files only, so a run can be re-analysed without
recomputing templates. Nothing here imports the CLI.
"""
