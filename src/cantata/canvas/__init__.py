"""Campaigns as canvases: the definition, its validation, and schedules.

campaign = load_campaign(Path("examples/upcoming_stays.yaml"))
canvas = validate(campaign, model, audiences, templates)   # or CampaignError
next_fire_times(campaign.schedule, campaign.time_zone, after=now)
"""

from cantata.canvas.activities.base import Mark, Population
from cantata.canvas.activities.catalog import CATALOG
from cantata.canvas.conditions import evaluate_condition, parse_condition
from cantata.canvas.definition import (
    Campaign,
    Edge,
    ErrorPolicy,
    Node,
    Variable,
    bind_variables,
    load_campaign,
    parse_campaign,
)
from cantata.canvas.problems import CampaignError, Problem
from cantata.canvas.schedule import (
    Duration,
    Schedule,
    add_duration,
    next_fire_times,
    parse_duration,
    resolve_local,
    wait_until,
)
from cantata.canvas.validate import Activity, Canvas, Transition, check_campaign, validate

__all__ = [
    "CATALOG",
    "Activity",
    "Campaign",
    "CampaignError",
    "Canvas",
    "Duration",
    "Edge",
    "ErrorPolicy",
    "Mark",
    "Node",
    "Population",
    "Problem",
    "Schedule",
    "Transition",
    "Variable",
    "add_duration",
    "bind_variables",
    "check_campaign",
    "evaluate_condition",
    "load_campaign",
    "next_fire_times",
    "parse_campaign",
    "parse_condition",
    "parse_duration",
    "resolve_local",
    "validate",
    "wait_until",
]
