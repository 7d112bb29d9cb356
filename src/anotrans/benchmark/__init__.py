"""Reproducing the paper's tables: definitions, budget presets, the cell runner and the reports.

Entry point: ``anotrans benchmark TABLE`` (see docs/benchmarks.md).
"""
