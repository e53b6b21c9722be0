"""RIDE's method record: the `distill` section and loss keys, the `ride` objective,
distillation from a teacher run (a step input and a term around the objective) and the
expert router (a decoupled stage-2 entry)."""

from ltjax.core import plugins
from ltjax.ride import config
from ltjax.ride import objective
from ltjax.ride import router_stage

RECORD = plugins.MethodRecord(
    name="ride",
    # Every member of a population learns from the same teacher.
    sections=(plugins.Section("distill", config.section, shared=True),),
    loss_settings=(objective.RideSettings, objective.DistillSettings),
    objectives={"ride": objective.OBJECTIVE},
    stage2_methods={"ride_router": router_stage.ROUTER},
    hooks=plugins.TrainingHooks(check=objective.check_teacher,
                                step_inputs=objective.teacher_input,
                                wrap_objective=objective.with_distillation),
    run_inputs=(plugins.RunInput("teacher", "distill.teacher_workdir", stage="train"),),
)
