"""The `robospatial` command: one module per sub-command family (entry point: cli.main:main)."""
