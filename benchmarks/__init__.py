"""Side-by-side measurements.

Each bench_*.py exposes figures() -> {name: {"value", "unit", "floor" or "peer", "ratio"}}; `make bench` runs them.
"""
