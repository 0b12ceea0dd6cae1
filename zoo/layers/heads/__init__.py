"""Heads: layers on top of the task logits, composed into any model by its `heads=` argument."""
