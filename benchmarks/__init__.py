"""`make bench`: each benchmark prints its figure next to a baseline measured in the same run."""
