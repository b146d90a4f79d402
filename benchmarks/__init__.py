"""Benchmark scripts and suites (installed as ``aigc_opt.benchmarks``)."""
