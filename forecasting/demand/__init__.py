"""Demand forecasting: per-SKU model selection by backtest, calibrated intervals, top-down splits.

Entry point: ``forecasting.demand.pipeline.forecast_demand``.
"""
