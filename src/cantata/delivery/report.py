"""The campaign report: per run and channel activity, what was targeted, excluded (by reason),
sent, and what came back (delivered, bounced, unique opens and clicks, unsubscribes,
complaints), with rates and a timeline by hour.

Targeted and excluded come from the ledger; everything after the send from communication
history, counted once per message (a message opened five times is one unique open).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from cantata.store.base import Store

EVENTS = ("delivered", "bounced", "opened", "clicked", "unsubscribed", "complained")


@dataclass
class ActivityReport:
    run: int
    activity: str
    channel: str
    targeted: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    sent: int = 0
    failed: int = 0
    delivered: int = 0
    bounced: int = 0
    opened: int = 0  # unique: messages opened at least once
    clicked: int = 0
    unsubscribed: int = 0
    complained: int = 0
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())

    @property
    def rates(self) -> dict[str, float | None]:
        # Engagement is over what arrived: delivered when the provider reports it, else sent.
        reached = self.delivered or self.sent
        tracked = self.channel == "email"  # opens and clicks are tracked in emails
        return {
            "delivery_rate": _rate(self.delivered, self.sent),
            "bounce_rate": _rate(self.bounced, self.sent),
            "open_rate": _rate(self.opened, reached) if tracked else None,
            "click_rate": _rate(self.clicked, reached) if tracked else None,
            "click_to_open_rate": _rate(self.clicked, self.opened) if tracked else None,
            "unsubscribe_rate": _rate(self.unsubscribed, reached),
            "complaint_rate": _rate(self.complained, reached),
        }

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "excluded_total": self.excluded_total, **self.rates}


@dataclass(frozen=True)
class CampaignReport:
    campaign: str
    activities: list[ActivityReport]

    def as_json(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "activities": [a.as_json() for a in self.activities]}

    def as_csv(self) -> str:
        columns = [
            "run", "activity", "channel", "targeted", "excluded_total", "pending", "sent",
            "failed", *EVENTS, "delivery_rate", "bounce_rate", "open_rate", "click_rate",
            "click_to_open_rate", "unsubscribe_rate", "complaint_rate",
        ]  # fmt: skip
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for a in self.activities:
            writer.writerow(a.as_json())
        return out.getvalue()


def campaign_report(store: Store, campaign: str) -> CampaignReport:
    found: dict[tuple[int, str], ActivityReport] = {}
    for run, activity, channel, total, pending, sent, failed in store.fetchall(
        "SELECT run, activity, min(channel), count(*), "
        "sum(CASE WHEN status IN ('pending', 'claimed') THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), "
        "sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) "
        "FROM cantata_delivery WHERE campaign = %s GROUP BY run, activity ORDER BY run, activity",
        [campaign],
    ):
        found[(int(run), activity)] = ActivityReport(
            int(run), activity, channel, int(total), {}, int(pending), int(sent), int(failed)
        )
    for run, activity, reason, n in store.fetchall(
        "SELECT run, activity, reason, count(*) FROM cantata_delivery WHERE campaign = %s "
        "AND status = 'excluded' GROUP BY run, activity, reason ORDER BY reason",
        [campaign],
    ):
        found[(int(run), activity)].excluded[str(reason)] = int(n)
    for run, activity, event, n in store.fetchall(
        "SELECT run_id, activity, event, count(DISTINCT message_id) FROM cantata_history "
        "WHERE campaign = %s AND event <> 'sent' GROUP BY run_id, activity, event",
        [campaign],
    ):
        report = found.get((int(run), activity))
        if report is not None and event in EVENTS:
            setattr(report, event, int(n))
    for run, activity, hour, event, n in store.fetchall(
        "SELECT run_id, activity, date_trunc('hour', \"at\") AS hour, event, count(*) "
        "FROM cantata_history WHERE campaign = %s GROUP BY run_id, activity, hour, event "
        "ORDER BY hour, event",
        [campaign],
    ):
        report = found.get((int(run), activity))
        if report is not None:
            _add_hour(report, hour, str(event), int(n))
    return CampaignReport(campaign, list(found.values()))


def _add_hour(report: ActivityReport, hour: datetime, event: str, n: int) -> None:
    stamp = hour.isoformat()
    if not report.timeline or report.timeline[-1]["hour"] != stamp:
        report.timeline.append({"hour": stamp})
    report.timeline[-1][event] = n


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
