"""Dagster assets, one module per stage; `pipelines.definitions` loads them all."""
