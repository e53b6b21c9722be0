"""How a command-line entry point ends on bad input: one sentence that names the input and the
fix, no traceback (`LTJAX_TRACEBACK=1` shows it).

Every entry point (`ltjax.main`, `ltjax.reproduce`, `ltjax.report`,
`ltjax.dlsa.feature_report`, `experiments/bench.py`) runs its work inside
`user_errors_as_one_sentence(prog)`; the absl ones parse their flags with `parse_flags`, which
gives a bad config file, a config argument or an override of a key the config lacks the same
one sentence instead of absl's traceback.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator, NoReturn, Sequence

from absl import flags

from ltjax.core import checkpoint

# Errors that ltjax raises for bad input (a config value, a file, a diverged run): reported as
# their message alone. Anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, FileNotFoundError, PermissionError, FloatingPointError,
               checkpoint.CorruptCheckpointError)
TRACEBACK_ENV = "LTJAX_TRACEBACK"


def traceback_wanted() -> bool:
  return bool(os.environ.get(TRACEBACK_ENV))


def fail(prog: str, message: str) -> NoReturn:
  """Prints `prog: error: message` and the traceback hint to stderr; exits with status 1."""
  print(f"{prog}: error: {message}\n(set {TRACEBACK_ENV}=1 for the traceback)",
        file=sys.stderr, flush=True)
  sys.exit(1)


@contextlib.contextmanager
def user_errors_as_one_sentence(prog: str) -> Iterator[None]:
  """Ends a USER_ERRORS exception raised inside as its one sentence (exit status 1)."""
  try:
    yield
  except USER_ERRORS as e:
    if traceback_wanted():
      raise
    fail(prog, f"{type(e).__name__}: {e}")


def _last_line(text: str) -> str:
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  return lines[-1] if lines else text


def flag_error_sentence(message: str) -> str:
  """absl's flag error, whose message may embed the config file's traceback, as one line:
  the flag and the exception the config file raised."""
  first = message.strip().splitlines()[0] if message.strip() else message
  if "Traceback" not in message:
    return " ".join(line.strip() for line in message.splitlines() if line.strip())
  flag = first.split(": Error whilst parsing config file")[0]
  return f"{flag}: the config file raised {_last_line(message)}"


def unknown_key_sentence(error: BaseException, argv: Sequence[str]) -> str:
  """An override of a key the locked config lacks (ml_collections' KeyError / AttributeError,
  whose text is "'key'\\nDid you mean ...")."""
  text = str(error.args[0]) if error.args else str(error)
  # The text may be the repr of the inner KeyError's message; undo its escaping.
  text = text.replace("\\n", "\n").replace("\\'", "'").strip("'\" \n")
  name, _, hint = text.partition("\n")
  name = name.strip("'\" ")
  flag = next((a.split("=")[0] for a in argv
               if a.startswith("--config.") and name in a.split("=")[0].split(".")[1:]), None)
  where = f"{flag}: " if flag else ""
  hint = hint.strip().strip("'\"")
  return (f"{where}the config has no key {name!r}" + (f"; {hint[0].lower()}{hint[1:]}" if hint
                                                       else "")
          + " (the keys are listed in ltjax/config/defaults.py and the rooms' config.py)")


def parse_flags(prog: str):
  """An absl `flags_parser` (`app.run(main, flags_parser=cli.parse_flags(prog))`)."""

  def parse(argv: Sequence[str]):
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      if traceback_wanted():
        raise
      fail(prog, flag_error_sentence(str(e)))
    except (KeyError, AttributeError) as e:  # an override of a key the config lacks
      if traceback_wanted():
        raise
      fail(prog, unknown_key_sentence(e, argv))

  return parse


def config_value(holder, prog: str):
  """The parsed config of a `config_flags` holder; a config file that failed to load (it does
  not exist, it raised) ends as one sentence."""
  try:
    value = holder.value
    value.get  # pylint: disable=pointless-statement  (a failed load raises on first use)
    return value
  except OSError as e:
    if traceback_wanted():
      raise
    fail(prog, f"--config: the config file could not be loaded: {_last_line(str(e))}")
