"""Benchmarks: `make bench` runs `python -m bench`; the last line printed is one JSON object."""
