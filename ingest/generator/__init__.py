"""Realistic, labelled AWS WAFv2 traffic: raw WAF log records for a simulated estate of
domains and web ACLs, with attack and false-positive scenarios and their ground truth."""

from ingest.generator.models import GenerateOptions, GenerateSummary, GroundTruth, ScenarioSpec
from ingest.generator.service import Generator, generate, scenario_names

__all__ = [
    "GenerateOptions",
    "GenerateSummary",
    "Generator",
    "GroundTruth",
    "ScenarioSpec",
    "generate",
    "scenario_names",
]
