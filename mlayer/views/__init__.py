"""Read-only views of what is deployed: history and status."""
