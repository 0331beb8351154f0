"""Throughput, latency, memory and profile benchmark of the worker on a local broker.

Run ``python -m bench.run --quick`` (or ``scripts/bench --quick``); see ``docs/benchmark.md``.
"""
