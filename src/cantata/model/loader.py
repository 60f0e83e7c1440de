"""Load `model.yaml` into a validated `Model`; every error names the file, line, entity and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from cantata.errors import ModelError, did_you_mean
from cantata.model.entities import ADDRESS_CHANNELS, Entity, Field, FieldType, Link, Model

NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_PREFIXES = ("cantata_", "_")
ENTITY_KEYS = {"key", "recipient", "version", "fields", "links", "description"}
FIELD_KEYS = {"type", "address", "values", "description"}
LINK_KEYS = {"to", "on", "reverse", "one_to_one", "description"}


class _Marked:
    """YAML data plus the line of every mapping key and value, by path."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines: dict[tuple[str, ...], int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise ModelError(f"not valid YAML: {exc}", where=f"{source}{line}") from None
        self.data = self._convert(node, ()) if node is not None else None

    def _convert(self, node: yaml.Node, path: tuple[str, ...]) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                self.lines[(*path, key)] = key_node.start_mark.line + 1
                out[key] = self._convert(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(v, (*path, str(i))) for i, v in enumerate(node.value)]
        return yaml.SafeLoader("").construct_object(node, deep=True)

    def where(self, *path: str) -> str:
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return f"{self.source}:{self.lines[path[:n]]}"
        return self.source


def load_model(path: Path) -> Model:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read the model: {exc.strerror}", where=str(path)) from None
    return parse_model(text, source=str(path))


def parse_model(text: str, source: str = "model.yaml") -> Model:
    doc = _Marked(text, source)
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("entities"), dict):
        raise ModelError("the model must be a mapping with an 'entities' mapping", where=source)
    unknown = set(data) - {"entities", "description"}
    if unknown:
        key = sorted(unknown)[0]
        raise ModelError(
            f"unknown top-level key {key!r}{did_you_mean(key, ['entities'])}",
            where=doc.where(key),
        )
    raw_entities: dict[str, Any] = data["entities"]
    if not raw_entities:
        raise ModelError("the model declares no entity", where=doc.where("entities"))
    entities = {name: _entity(doc, name, spec) for name, spec in raw_entities.items()}
    model = Model(entities=entities, source=source)
    _check_links(doc, model)
    _check_recipient(doc, model)
    return model


def _entity(doc: _Marked, name: str, spec: Any) -> Entity:
    at = ("entities", name)
    where = doc.where(*at)
    if not NAME.match(name) or name.startswith(RESERVED_PREFIXES):
        raise ModelError(
            f"entity name {name!r} must be lower_snake_case and not start with 'cantata_' or '_'",
            where=where,
        )
    if not isinstance(spec, dict):
        raise ModelError(f"entity {name!r} must be a mapping", where=where)
    _no_unknown_keys(doc, spec, ENTITY_KEYS, at, f"entity {name!r}")
    raw_fields = spec.get("fields")
    if not isinstance(raw_fields, dict) or not raw_fields:
        raise ModelError(f"entity {name!r} needs a 'fields' mapping", where=where)
    fields = {fname: _field(doc, name, fname, fspec) for fname, fspec in raw_fields.items()}
    key = spec.get("key")
    if not isinstance(key, str):
        raise ModelError(f"entity {name!r} needs a 'key' naming one of its fields", where=where)
    if key not in fields:
        raise ModelError(
            f"entity {name!r}: key {key!r} is not among its fields{did_you_mean(key, fields)}",
            where=doc.where(*at, "key"),
        )
    version = spec.get("version")
    if version is not None:
        if version not in fields:
            raise ModelError(
                f"entity {name!r}: version {version!r} is not among its fields"
                f"{did_you_mean(str(version), fields)}",
                where=doc.where(*at, "version"),
            )
        if fields[version].type not in (
            FieldType.INTEGER,
            FieldType.TIMESTAMP,
            FieldType.DATE,
            FieldType.DECIMAL,
        ):
            raise ModelError(
                f"entity {name!r}: version field {version!r} must be an integer, decimal, "
                f"date or timestamp, not {fields[version].type}",
                where=doc.where(*at, "version"),
            )
    recipient = spec.get("recipient", False)
    if not isinstance(recipient, bool):
        raise ModelError(f"entity {name!r}: 'recipient' must be true or false", where=where)
    links = {
        lname: _link(doc, name, lname, lspec) for lname, lspec in (spec.get("links") or {}).items()
    }
    return Entity(name, key, fields, links, recipient, version)


def _field(doc: _Marked, entity: str, name: str, spec: Any) -> Field:
    at = ("entities", entity, "fields", name)
    where = doc.where(*at)
    label = f"entity {entity!r}, field {name!r}"
    if not NAME.match(name) or name.startswith("_"):
        raise ModelError(f"{label}: field names must be lower_snake_case", where=where)
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, dict):
        raise ModelError(f"{label}: expected a type name or a mapping", where=where)
    _no_unknown_keys(doc, spec, FIELD_KEYS, at, label)
    type_name = spec.get("type")
    types = [t.value for t in FieldType]
    if type_name not in types:
        raise ModelError(
            f"{label}: unknown type {type_name!r}{did_you_mean(str(type_name), types)}",
            where=where,
        )
    ftype = FieldType(type_name)
    address = spec.get("address")
    if address is not None:
        if address not in ADDRESS_CHANNELS:
            raise ModelError(
                f"{label}: unknown address channel {address!r}"
                f"{did_you_mean(str(address), ADDRESS_CHANNELS)}",
                where=doc.where(*at, "address"),
            )
        if ftype is not FieldType.STRING:
            raise ModelError(
                f"{label}: an address field must be a string, not {ftype}",
                where=doc.where(*at, "address"),
            )
    values = spec.get("values")
    if values is not None:
        if not isinstance(values, list) or not values:
            raise ModelError(
                f"{label}: 'values' must be a non-empty list", where=doc.where(*at, "values")
            )
        values = tuple(values)
    return Field(name, ftype, address, values)


def _link(doc: _Marked, entity: str, name: str, spec: Any) -> Link:
    at = ("entities", entity, "links", name)
    where = doc.where(*at)
    label = f"entity {entity!r}, link {name!r}"
    if not NAME.match(name):
        raise ModelError(f"{label}: link names must be lower_snake_case", where=where)
    if not isinstance(spec, dict):
        raise ModelError(f"{label}: expected a mapping with 'to', 'on' and 'reverse'", where=where)
    _no_unknown_keys(doc, spec, LINK_KEYS, at, label)
    for required in ("to", "on", "reverse"):
        if not isinstance(spec.get(required), str):
            raise ModelError(f"{label}: missing {required!r}", where=where)
    one_to_one = spec.get("one_to_one", False)
    if not isinstance(one_to_one, bool):
        raise ModelError(f"{label}: 'one_to_one' must be true or false", where=where)
    return Link(name, entity, spec["to"], spec["on"], spec["reverse"], one_to_one)


def _check_links(doc: _Marked, model: Model) -> None:
    for entity in model.entities.values():
        for link in entity.links.values():
            at = ("entities", entity.name, "links", link.name)
            label = f"entity {entity.name!r}, link {link.name!r}"
            if link.target not in model.entities:
                raise ModelError(
                    f"{label}: links to unknown entity {link.target!r}"
                    f"{did_you_mean(link.target, model.entities)}",
                    where=doc.where(*at, "to"),
                )
            if link.on not in entity.fields:
                raise ModelError(
                    f"{label}: 'on' field {link.on!r} is not a field of {entity.name!r}"
                    f"{did_you_mean(link.on, entity.fields)}",
                    where=doc.where(*at, "on"),
                )
            target = model.entities[link.target]
            if entity.fields[link.on].type is not target.key_field.type:
                raise ModelError(
                    f"{label}: field {link.on!r} is {entity.fields[link.on].type} but the key "
                    f"{target.name}.{target.key} is {target.key_field.type}",
                    where=doc.where(*at, "on"),
                )
            if not NAME.match(link.reverse):
                raise ModelError(
                    f"{label}: reverse name {link.reverse!r} must be lower_snake_case",
                    where=doc.where(*at, "reverse"),
                )
    # Names navigable from one entity must be unique: links, reverse names and fields share
    # the dotted-path namespace.
    for entity in model.entities.values():
        seen: dict[str, str] = {f: "a field" for f in entity.fields}
        for other in model.entities.values():
            for link in other.links.values():
                pairs = []
                if link.source == entity.name:
                    pairs.append((link.name, f"link {other.name}.{link.name}", "on"))
                if link.target == entity.name:
                    pairs.append(
                        (link.reverse, f"the reverse of link {other.name}.{link.name}", "reverse")
                    )
                for name, what, key in pairs:
                    if name in seen:
                        raise ModelError(
                            f"entity {entity.name!r}: the name {name!r} of {what} clashes with "
                            f"{seen[name]} of {entity.name!r}; rename one of them",
                            where=doc.where("entities", other.name, "links", link.name, key),
                        )
                    seen[name] = what


def _check_recipient(doc: _Marked, model: Model) -> None:
    recipients = [e.name for e in model.entities.values() if e.recipient]
    if len(recipients) != 1:
        found = ", ".join(recipients) if recipients else "none"
        raise ModelError(
            f"exactly one entity must be marked 'recipient: true' (found: {found})",
            where=doc.where("entities", recipients[1]) if recipients else doc.where("entities"),
        )
    for entity in model.entities.values():
        if entity.recipient:
            continue
        for f in entity.fields.values():
            if f.address:
                raise ModelError(
                    f"entity {entity.name!r}, field {f.name!r}: only the recipient entity "
                    f"({recipients[0]!r}) holds addresses",
                    where=doc.where("entities", entity.name, "fields", f.name),
                )
    recipient = model.recipient
    for channel, names in recipient.addresses().items():
        if channel != "mail" and len(names) > 1:
            raise ModelError(
                f"entity {recipient.name!r}: several fields hold the {channel} address "
                f"({', '.join(names)}); keep one",
                where=doc.where("entities", recipient.name, "fields", names[1]),
            )


def _no_unknown_keys(
    doc: _Marked, spec: dict[str, Any], allowed: set[str], at: tuple[str, ...], label: str
) -> None:
    for key in spec:
        if key not in allowed:
            raise ModelError(
                f"{label}: unknown key {key!r}{did_you_mean(key, allowed)}",
                where=doc.where(*at, key),
            )
