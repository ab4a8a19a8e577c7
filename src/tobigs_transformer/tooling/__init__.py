"""Plumbing shared by the command lines (tooling: never imported by the model files)."""
