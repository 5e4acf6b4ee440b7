"""The pydantic model of a document and the nested -> flat (Arrow row) conversion.

The model is for validation at the edges (tests, API responses); the parser's hot path
builds plain dicts and never validates through pydantic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, create_model

from wafsiem.schema.fields import FIELDS, FieldSpec, FieldType

HeaderValue = str | list[str]

_PY_TYPES: dict[FieldType, Any] = {
    "keyword": str,
    "date": datetime,
    "ip": str,
    "long": int,
    "integer": int,
    "boolean": bool,
    "flat_object": dict[str, HeaderValue],
    "object": Any,
    "stored": str,
}


def _python_type(spec: FieldSpec) -> Any:
    base = _PY_TYPES[spec.type]
    if spec.multi and spec.type != "object":
        return list[base]  # type: ignore[valid-type]
    return base


def _class_name(path: tuple[str, ...]) -> str:
    words = [w for part in path for w in part.replace("@", "").split("_")]
    return "".join(w.capitalize() for w in words) or "WafDocument"


def _build(path: tuple[str, ...], tree: dict[str, Any]) -> type[BaseModel]:
    definitions: dict[str, Any] = {}
    for key, value in tree.items():
        attr = key.lstrip("@")
        if isinstance(value, FieldSpec):
            annotation = _python_type(value)
            default = Field(
                default=None, alias=key if attr != key else None, description=value.description
            )
            definitions[attr] = (annotation | None, default)
        else:
            sub = _build((*path, key), value)
            definitions[attr] = (
                sub | None,
                Field(default=None, alias=key if attr != key else None),
            )
    config = ConfigDict(extra="forbid", populate_by_name=True)
    name = "WafDocument" if not path else _class_name(path)
    model: type[BaseModel] = create_model(name, __config__=config, **definitions)
    return model


@lru_cache(maxsize=1)
def document_model() -> type[BaseModel]:
    """The pydantic model of a nested document (``WafDocument``), built once on first use."""
    tree: dict[str, Any] = {}
    for spec in FIELDS:
        parts = spec.name.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = spec
    return _build((), tree)


def validate_document(doc: dict[str, Any]) -> BaseModel:
    """Validate a nested document against the schema (raises ``ValidationError``)."""
    return document_model().model_validate(doc)


_PATHS: list[tuple[FieldSpec, tuple[str, ...]]] = [
    (spec, tuple(spec.name.split("."))) for spec in FIELDS
]


def _timestamp_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def flatten_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The flat Arrow row of a nested document: every schema column, dotted names.

    Dates become epoch milliseconds (Arrow ``timestamp[ms]`` accepts them), objects and
    flat objects JSON text, absent fields ``None``.
    """
    row: dict[str, Any] = {}
    for spec, path in _PATHS:
        value: Any = doc
        for part in path:
            if not isinstance(value, dict):
                value = None
                break
            value = value.get(part)
        if value is not None:
            if spec.type == "date":
                value = _timestamp_ms(value)
            elif spec.type in ("object", "flat_object"):
                value = orjson.dumps(value).decode()
            elif spec.multi and not isinstance(value, list):
                value = [value]
        row[spec.name] = value
    return row
