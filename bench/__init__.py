"""Benchmarks: each prints a table and a one-line summary of ratios against a baseline run alongside."""
