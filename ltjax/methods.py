"""The method rooms installed with ltjax: importing this module registers their records.

The command-line entry points (`ltjax.main`, `ltjax.reproduce`, `ltjax.dlsa.feature_report`)
and the tests import it; the framework (config, data, models, losses, train, runs, core)
never does, it only reads `ltjax.core.plugins.records()`. In a notebook, `import ltjax.methods` before building a
config. A room of your own registers its record the same way (`plugins.register(RECORD)`).
"""

from ltjax.core import plugins
from ltjax.decoupled import record as decoupled
from ltjax.dlsa import record as dlsa
from ltjax.granularity import record as granularity
from ltjax.ride import record as ride

# Registration order is the order of their sections in the config and of their loss keys.
INSTALLED = (ride.RECORD, granularity.RECORD, decoupled.RECORD, dlsa.RECORD)

for _record in INSTALLED:
  plugins.register(_record)
