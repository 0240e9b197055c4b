"""Demos that exercise the whole platform on synthetic data (``plinth demo``)."""

from plinth.demo.churn import DemoReport, GridPoint, RankedRun, RunResult, run_demo

__all__ = ["DemoReport", "GridPoint", "RankedRun", "RunResult", "run_demo"]
