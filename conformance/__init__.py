"""The conformance kit for workers in any language (docs/conformance.md):
`python -m conformance --worker "COMMAND"` starts a coordinator, the worker
under test (twice, where a scenario needs a spare) and a driver, runs the
documented scenarios and prints a table of what passed and failed."""
