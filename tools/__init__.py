"""Programs around the library: the seeds' report, benchmarks, tuning and checks.

Run them as modules from the repository root, e.g. `python -m tools.report --out=results`.
"""
