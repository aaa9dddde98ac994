"""deploy-function: one read, a pure plan, then the writes; the code zip, the file trigger and the created role."""
