"""The demo scenario: the five seed stories, loaded through the platform's public HTTP APIs."""

from cli.demo.plan import build, default_seed, load_scenario
from cli.demo.runner import DemoError, DemoReport, run_demo

__all__ = ["DemoError", "DemoReport", "build", "default_seed", "load_scenario", "run_demo"]
