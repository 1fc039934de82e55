"""Kashif benchmarks (`make bench`): each section measures one property and
writes `bench/results/<section>.json`; `bench.run` drives them and writes
`bench/results/SUMMARY.md`."""
