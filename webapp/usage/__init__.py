"""Token usage: one ledger row per request sent to a model, whatever became of its conversation."""
