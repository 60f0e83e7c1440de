"""Campaign text (YAML or JSON) as plain data, with the line of every key and value by path.

Scalars are read the YAML 1.2 way, as a campaign author means them: `09:30` is a time
string (not the sexagesimal integer 570), `2026-04-01` stays a string (the schema parses it),
and only `true` / `false` are booleans (`on`, `no`, `yes` stay strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from cantata.canvas.problems import CampaignError, PathPart, Problem

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class Document:
    """`data` read from `text`; `line(path)` is the 1-based line of the deepest known prefix."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines: dict[tuple[str, ...], int] = {}
        self.problems: list[Problem] = []
        try:
            node = yaml.compose(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            raise CampaignError(
                [
                    Problem(
                        "", f"not valid YAML or JSON: {problem}", mark.line + 1 if mark else None
                    )
                ],
                source,
            ) from None
        self.data: Any = self._convert(node, ()) if node is not None else None

    def line(self, parts: Sequence[PathPart]) -> int | None:
        path = tuple(str(p) for p in parts)
        for n in range(len(path), -1, -1):
            found = self.lines.get(path[:n])
            if found is not None:
                return found
        return None

    def _convert(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line = key_node.start_mark.line + 1
                if key in out:
                    first = self.lines[(*path, key)]
                    self.problems.append(
                        Problem(
                            ".".join((*path, key)),
                            f"duplicate key {key!r} (first at line {first}); keep one",
                            line,
                        )
                    )
                    continue
                self.lines[(*path, key)] = line
                out[key] = self._convert(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(v, (*path, str(i))) for i, v in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    text = str(node.value)
    tag = node.tag
    if tag in (_STR, _TIMESTAMP):
        return text
    if tag == _NULL:
        return None
    if tag == _BOOL:
        lowered = text.lower()
        return lowered == "true" if lowered in ("true", "false") else text
    if tag in (_INT, _FLOAT) and ":" in text:  # YAML 1.1 sexagesimal: a clock time
        return text
    if tag == _INT:
        return _CONSTRUCTOR.construct_yaml_int(node)
    if tag == _FLOAT:
        return _CONSTRUCTOR.construct_yaml_float(node)
    return text  # any other explicit tag: the text as written


_CONSTRUCTOR = yaml.SafeLoader("")
