"""The template library: named, versioned message templates.

A channel activity names one with `template: NAME` instead of inline content. Saving a
template whose content changed makes a new version; every version stays. Validation checks a
campaign against the current version, field by field against what flows into the activity,
and a run pins the version current when its channel queues the messages (`with_template`), so
editing a template never changes what a run already queued.

A template file is YAML:

    name: welcome
    channel: email
    description: First contact after sign-up
    subject: Welcome, {{ recipient.first_name }}
    body: |
      <p>Hello {{ recipient.first_name }}...</p>
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cantata.canvas.document import Document
from cantata.canvas.problems import CampaignError, Problem, display_path
from cantata.delivery.personalize import check_template, sample_context
from cantata.errors import CantataError, NotFoundError, did_you_mean
from cantata.model import Model
from cantata.store.base import Store
from cantata.store.first_use import ReadOnFirstUse

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,62}$")
# The channels whose content a template holds (a webhook's URL stays a node setting; a direct
# mail's `template` names the print provider's letter template).
CHANNELS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "body", "text"),
    "sms": ("body",),
    "push": ("title", "body", "deep_link"),
    "webhook": ("body",),
}
# What each channel cannot do without.
REQUIRED: dict[str, tuple[str, ...]] = {
    "email": ("subject", "body"),
    "sms": ("body",),
    "push": ("body",),
    "webhook": ("body",),
}


class TemplateLibraryError(CantataError):
    """A template cannot be read, saved or found."""


class TemplateNotFoundError(TemplateLibraryError, NotFoundError):
    """No template (or no such version of one) has the name asked for."""


class TemplateFileError(TemplateLibraryError):
    """A template file is invalid; `problems` lists every problem, in file order."""

    def __init__(self, problems: list[Problem], source: str) -> None:
        self.problems = sorted(problems, key=lambda p: p.line or 0)
        body = "\n  ".join(p.describe(source) for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the template:\n  {body}")


@dataclass(frozen=True)
class SavedTemplate:
    name: str
    version: int
    channel: str
    parts: dict[str, str]
    description: str | None
    created_at: datetime

    @property
    def label(self) -> str:
        return f"template {self.name!r} v{self.version}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "channel": self.channel,
            "description": self.description,
            "parts": self.parts,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class TemplateFile:
    name: str
    channel: str
    parts: dict[str, str]
    description: str | None


def read_template(text: str, source: str, model: Model) -> TemplateFile:
    """A template file's content, checked: its keys, each part's syntax, what the sandbox
    refuses and the recipient's fields. What flows into a channel (`target`) and the
    campaign's variables are checked where a campaign uses the template."""
    try:
        doc = Document(text, source)
    except CampaignError as exc:  # the YAML itself: a template's problem here, not a campaign's
        raise TemplateFileError(
            [Problem(p.path or "(template)", p.message, p.line) for p in exc.problems], source
        ) from None
    data = doc.data
    problems: list[Problem] = []

    def problem(parts: tuple[str, ...], message: str) -> None:
        problems.append(Problem(display_path(parts) or "(template)", message, doc.line(parts)))

    if not isinstance(data, dict):
        raise TemplateFileError(
            [Problem("(template)", "a template file is a mapping of keys")], source
        )
    name, channel = data.get("name"), data.get("channel")
    if not isinstance(name, str) or not _NAME.match(name):
        problem(("name",), "give the template a name: letters, digits, _ . - (at most 63)")
    if not isinstance(channel, str) or channel not in CHANNELS:
        problem(("channel",), f"channel is one of {', '.join(CHANNELS)}")
    description = data.get("description")
    if description is not None and not isinstance(description, str):
        problem(("description",), "the description is text")
    allowed = CHANNELS.get(channel, ()) if isinstance(channel, str) else ()
    parts: dict[str, str] = {}
    for key, value in data.items():
        if key in ("name", "channel", "description"):
            continue
        if key not in allowed:
            known = [*allowed, "name", "channel", "description"]
            problem((key,), f"unknown key {key!r}{did_you_mean(str(key), known)}")
        elif not isinstance(value, str):
            problem((key,), f"{key} is template text")
        else:
            parts[key] = value
    required = REQUIRED.get(channel, ()) if isinstance(channel, str) else ()
    for key in required:
        if key not in parts and not any(p.path == key for p in problems):
            problem((), f"missing {key!r}: {channel} templates need {', '.join(required)}")
    context = sample_context(model)
    for key, value in parts.items():
        html = channel == "email" and key == "body"
        for found in check_template(value, html=html, context=context, part=key):
            line = doc.line((key,))
            # A block scalar's first line of text is the one after its key.
            if line is not None and found.line is not None and "\n" in value.strip():
                line += found.line
            problems.append(Problem(key, found.message, line))
    if problems:
        raise TemplateFileError(problems, source)
    assert isinstance(name, str) and isinstance(channel, str)
    return TemplateFile(name, channel, parts, description)


def load_template_file(path: Path, model: Model) -> TemplateFile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateLibraryError(
            f"cannot read the template file: {exc.strerror}", where=str(path)
        ) from None
    return read_template(text, str(path), model)


_COLUMNS = "name, version, channel, parts, description, created_at"


def _saved(row: tuple[Any, ...]) -> SavedTemplate:
    name, version, channel, parts, description, created_at = row
    return SavedTemplate(name, int(version), channel, json.loads(parts), description, created_at)


def save_template(
    store: Store, template: TemplateFile, *, now: datetime
) -> tuple[SavedTemplate, bool]:
    """Save the template; a new version only when its content changed. Returns the current
    version and whether it is new."""
    with store.transaction():
        found = versions(store, template.name, missing_ok=True)
        if found:
            last = found[-1]
            same = (last.channel, last.parts, last.description) == (
                template.channel,
                template.parts,
                template.description,
            )
            if same:
                return last, False
            if last.channel != template.channel:
                raise TemplateLibraryError(
                    f"template {template.name!r} is a {last.channel} template; a {template.channel} "
                    "one needs another name (campaigns using it send by its channel)"
                )
        number = found[-1].version + 1 if found else 1
        store.execute(
            f"INSERT INTO cantata_template ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
            [
                template.name,
                number,
                template.channel,
                json.dumps(template.parts, sort_keys=True),
                template.description,
                now.replace(tzinfo=None),
            ],
        )
    return versions(store, template.name)[-1], True


def versions(store: Store, name: str, *, missing_ok: bool = False) -> list[SavedTemplate]:
    rows = store.fetchall(
        f"SELECT {_COLUMNS} FROM cantata_template WHERE name = %s ORDER BY version", [name]
    )
    if not rows and not missing_ok:
        known = [t.name for t in list_templates(store)]
        raise TemplateNotFoundError(f"no template {name!r}{did_you_mean(name, known)}")
    return [_saved(r) for r in rows]


def template_version(store: Store, name: str, version: int | None = None) -> SavedTemplate:
    """The current version of a template, or the one asked for."""
    found = versions(store, name)
    if version is None:
        return found[-1]
    for saved in found:
        if saved.version == version:
            return saved
    raise TemplateNotFoundError(
        f"template {name!r} has no version {version} (1 to {found[-1].version})"
    )


def list_templates(store: Store) -> list[SavedTemplate]:
    """The current version of every template, by name."""
    rows = store.fetchall(
        f"SELECT {_COLUMNS} FROM cantata_template t WHERE version = "
        "(SELECT max(version) FROM cantata_template u WHERE u.name = t.name) ORDER BY name"
    )
    return [_saved(r) for r in rows]


def template_library(store: Store) -> Mapping[str, SavedTemplate]:
    """Template name → its current version, for validation: read the first time a channel
    names a template."""
    return ReadOnFirstUse(lambda: {t.name: t for t in list_templates(store)})


def with_template(channel: str, settings: Mapping[str, Any], store: Store) -> dict[str, Any]:
    """A channel activity's settings with its named template's content in place (the current
    version, recorded as `template_version`), for a run to keep; as given without one."""
    out = dict(settings)
    name = out.get("template")
    # A direct mail's `template` is the print provider's letter template, not ours.
    if name is None or channel not in CHANNELS or out.get("template_version") is not None:
        return out
    saved = template_version(store, str(name))
    return {**out, **saved.parts, "template_version": saved.version}
