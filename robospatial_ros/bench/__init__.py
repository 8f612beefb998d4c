"""Benchmarks run by `robospatial bench NAME`: each module has main(argv) and prints a table."""
