"""Side-by-side measurements: each bench_*.py exposes figures() -> {name: {"value", "unit", "floor"|"peer", "ratio"}}."""
