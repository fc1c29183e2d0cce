"""Benchmarks: `make bench`; never run as tests."""
