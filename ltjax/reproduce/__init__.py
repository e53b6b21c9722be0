"""Reproduction tables: `python -m ltjax.reproduce TABLE --workdir DIR` runs a declared table
(`tables/`, one small file per benchmark) in dependency order, seeds as populations where rows
share a model, and writes the table beside the published numbers (`table`)."""
