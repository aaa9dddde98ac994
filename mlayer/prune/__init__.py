"""mlayer prune: one read, a pure plan, then the deletions in their stated order."""
