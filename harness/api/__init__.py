"""The contracts (space, task, strategy, ground truth), the registry and the errors: one place."""
