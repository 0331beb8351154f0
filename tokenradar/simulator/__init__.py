"""A realistic, labelled generator of AI usage traffic.

It serves the quick start and the integration tests (``tokenradar simulate``) and the detector
benchmark: given a seed it produces the same events every time, and it returns the ground truth
(which incidents were injected where, and which normal-but-unusual events might fool a detector).

Examples
--------
>>> from datetime import timedelta
>>> from tokenradar.simulator import IncidentSpec, SimulationConfig, generate
>>> config = SimulationConfig(
...     seed=7,
...     teams=4,
...     duration=timedelta(hours=6),
...     incidents=(IncidentSpec("team_surge", at=timedelta(hours=3), magnitude=5.0),),
... )
>>> simulation = generate(config)
>>> [label.kind for label in simulation.true_incidents]
['team_surge']
"""

from __future__ import annotations

from tokenradar.simulator.config import (
    CONFOUNDER_KINDS,
    INCIDENT_KINDS,
    ConfounderSpec,
    IncidentSpec,
    SimulationConfig,
    Variation,
    parse_confounder_spec,
    parse_duration,
    parse_incident_spec,
)
from tokenradar.simulator.generator import EventBlock, Simulation, generate
from tokenradar.simulator.incidents import Incident
from tokenradar.simulator.organisation import BatchJob, Organisation, Team, User

__all__ = [
    "CONFOUNDER_KINDS",
    "INCIDENT_KINDS",
    "BatchJob",
    "ConfounderSpec",
    "EventBlock",
    "Incident",
    "IncidentSpec",
    "Organisation",
    "Simulation",
    "SimulationConfig",
    "Team",
    "User",
    "Variation",
    "generate",
    "parse_confounder_spec",
    "parse_duration",
    "parse_incident_spec",
]
