r"""`python -m ltjax.reproduce TABLE --workdir DIR`: run a paper table and set each row beside
the published number.

  python -m ltjax.reproduce cifar10_lt --workdir runs/repro_c10 --config.dataset.data_dir=/data
  python -m ltjax.reproduce cifar100_lt --workdir runs/repro_c100 --seeds 3 --only ride_e3,ldam_drw
  python -m ltjax.reproduce digits_lt --workdir /tmp/repro_digits   # minutes on a laptop CPU

Runs what is missing, resumes what is half done, never re-runs a finished run, then writes
`<workdir>/table.md`, `table.json` and `table.png`. `--merge other/table.json` folds in seeds
finished elsewhere; `--table-only` rebuilds the table without running anything.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from absl import flags
from absl import logging

import ltjax.methods  # pylint: disable=unused-import  (registers the installed method rooms)
from ltjax.core import cli
from ltjax.reproduce import rows as rows_lib
from ltjax.reproduce import spec
from ltjax.reproduce import tables


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[tuple[str, str]]]:
  parser = argparse.ArgumentParser(prog="python -m ltjax.reproduce",
                                   description=__doc__.split("\n")[0])
  parser.add_argument("table", choices=tables.NAMES)
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--only", default="", help="comma list of rows (their dependencies run too)")
  parser.add_argument("--seeds", type=int, default=3, help="training seeds 0..N-1")
  parser.add_argument("--schedule", default="full", choices=spec.SCHEDULES,
                      help="full (the paper's), smoke (every row's :smoke config, for tests) or "
                      "short (the table's declared short schedule, not the paper's)")
  parser.add_argument("--merge", action="append", default=[],
                      help="a table.json of rows finished elsewhere (repeatable)")
  parser.add_argument("--table-only", action="store_true",
                      help="build the table from what is finished; run nothing")
  args, rest = parser.parse_known_args(argv)
  try:
    overrides = [rows_lib.parse_override(x) for x in rest]
  except ValueError as e:
    parser.error(str(e))
  if args.seeds < 1:
    parser.error("--seeds must be >= 1")
  return args, overrides


def main(argv: list[str] | None = None) -> dict:
  argv = sys.argv[1:] if argv is None else argv
  args, overrides = parse(argv)
  from ltjax import main as ltjax_main  # pylint: disable=g-import-not-at-top
  from ltjax.core import sharding  # pylint: disable=g-import-not-at-top

  # The log as `python -m ltjax.main` prints it: absl's handler on the root logger (so no
  # other handler gets installed), INFO from ltjax only.
  flags.FLAGS.mark_as_parsed()
  logging.use_absl_handler()
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(ltjax_main.QuietLibraries())
  sharding.maybe_initialize_distributed()
  from ltjax.reproduce import runner  # pylint: disable=g-import-not-at-top
  from ltjax.reproduce import table as table_lib  # pylint: disable=g-import-not-at-top
  with cli.user_errors_as_one_sentence("ltjax.reproduce"):
    repro = runner.Reproduction(tables.load(args.table), args.workdir,
                                list(range(args.seeds)), args.schedule, overrides,
                                [s for s in args.only.split(",") if s] or None)
    for path in args.merge:
      print(f"merged {table_lib.merge(repro, path)} seed result(s) from {path}", flush=True)
    command = "python -m ltjax.reproduce " + " ".join(shlex.quote(a) for a in argv)
    if not args.table_only:
      repro.run(after_each=lambda: table_lib.write(repro, command))
    table = table_lib.write(repro, command)
  with open(os.path.join(repro.workdir, "table.md"), encoding="utf-8") as f:
    print("\n" + f.read(), flush=True)
  print(f"table written to {os.path.join(repro.workdir, 'table.md')} (+ table.json, table.png)",
        flush=True)
  return table
