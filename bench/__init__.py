"""Benchmarks: each scenario prints its figures beside a ceiling measured in the same run."""
