"""`python -m ltjax.report WORKDIR [WORKDIR ...] --out DIR` (kept command): the run report of
`ltjax.runs.report`."""

from ltjax.runs.report import *  # noqa: F401,F403  pylint: disable=wildcard-import
from ltjax.runs.report import main

if __name__ == "__main__":
  main()
