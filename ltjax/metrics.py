"""`ltjax.metrics` (public, kept where notebooks import it): the evaluation metrics, which live
in `ltjax.core.metrics`."""

from ltjax.core.metrics import *  # noqa: F401,F403  pylint: disable=wildcard-import
