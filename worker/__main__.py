"""`python -m worker`: the same command line as the `worker` entry point."""

from ._cli import main

raise SystemExit(main())
