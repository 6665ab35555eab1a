"""Rendering results: rich tables, montages, reports, plots."""
