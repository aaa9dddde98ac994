"""Changing the live function's model: publish-model, rollback, the relink, labels, where artifacts are stored, and the compatibility check."""
