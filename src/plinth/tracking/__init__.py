"""Experiment tracking: the fluent SDK, environment capture, autolog."""
