"""RIDE (routing diverse distribution-aware experts): the experts' recipes, the expert router
(stage 2) and distillation from a finished teacher run. The multi-expert models live in
`ltjax.models.ride` and the RIDE loss in `ltjax.losses.ride` (registered as `loss.name='ride'`).
"""
