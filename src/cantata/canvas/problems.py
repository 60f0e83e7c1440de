"""Problems found in a campaign definition, and the error that carries all of them at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cantata.errors import CantataError

PathPart = str | int


@dataclass(frozen=True)
class Problem:
    """One problem: where (JSON path, YAML line, node id) and what is wrong.

    `path` is the display path, naming nodes by id: `nodes.split1.settings.subsets[0].rule`.
    """

    path: str
    message: str
    line: int | None = None
    node: str | None = None

    def describe(self, source: str | None = None) -> str:
        where = ":".join(str(p) for p in (source, self.line) if p is not None)
        place = f"{where}: " if where else ""
        return f"{place}{self.path or '(campaign)'}: {self.message}"


class CampaignError(CantataError):
    """A campaign definition is invalid; `problems` lists every problem found, in file order."""

    def __init__(self, problems: Sequence[Problem], source: str | None = None) -> None:
        self.problems = sorted(problems, key=_file_order)
        self.source = source
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the campaign"
        body = "\n  ".join(p.describe(source) for p in self.problems)
        super().__init__(f"{head}:\n  {body}")


def _file_order(problem: Problem) -> tuple[int, str]:
    return (problem.line if problem.line is not None else 1 << 30, problem.path)


def display_path(parts: Sequence[PathPart]) -> str:
    """`("nodes", "split1", "settings", "subsets", 0, "rule")` → `nodes.split1.settings.subsets[0].rule`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out
