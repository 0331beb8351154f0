"""A realistic, labelled simulation of an organisation's AI usage."""

from __future__ import annotations

from tokenradar.simulator.generator import Simulation, generate
from tokenradar.simulator.organisation import (
    CONFOUNDER_KINDS,
    INCIDENT_KINDS,
    Incident,
    IncidentSpec,
    SimulationConfig,
    Variation,
)

__all__ = [
    "CONFOUNDER_KINDS",
    "INCIDENT_KINDS",
    "Incident",
    "IncidentSpec",
    "Simulation",
    "SimulationConfig",
    "Variation",
    "generate",
]
