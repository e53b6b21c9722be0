"""Infrastructure every stage shares: the device mesh (`sharding`), checkpoints, optimizers
and schedules (`optim`), evaluation metrics, the metric log and XLA CPU defaults."""
