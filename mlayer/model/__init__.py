"""Reading and judging a model: its files, the pickle scan and its trust, the schema, the samples, the manifest and what a layer ships."""
