"""make demo: the whole story through the CLI, step by step."""
