"""Turn pydantic validation errors into issues with a key path and a rule name."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from config.yaml_source import KeyPath

_RANGE = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}
_SECRET_KEYS = frozenset({"password", "passwd", "pass", "secret"})


def error_details(
    exc: ValidationError, model: type[BaseModel]
) -> Iterator[tuple[KeyPath, str, str]]:
    """Yield (key path, rule, message) for each error, never echoing non-numeric input."""
    for err in exc.errors():
        if err["type"] == "default_factory_not_called":
            continue  # a consequence of another error on the same model
        loc = tuple(p for p in err["loc"] if isinstance(p, int) or "[" not in p)
        rule, message = _describe(err, loc, model)
        yield loc, rule, message


_SIMPLE_RULES = {
    "too_short": "length",
    "too_long": "length",
    "string_too_short": "length",
    "string_too_long": "length",
    "model_type": "type",
    "dict_type": "type",
}


def _describe(err: ErrorDetails, loc: KeyPath, model: type[BaseModel]) -> tuple[str, str]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        return _unknown_key(key, loc, model)
    if kind == "missing":
        return "required", f"{key!r} is required"
    if kind in _RANGE:
        limit = next(iter(ctx.values()), "?")
        return "range", f"must be {_RANGE[kind]} {limit}, got {_number(err['input'])}"
    if kind == "literal_error":
        return "choice", f"must be one of {ctx.get('expected', '?')}"
    rule = _SIMPLE_RULES.get(kind)
    if rule is None and kind.endswith(("_type", "_parsing")):
        rule = "type"
    if rule is not None:
        return rule, err["msg"].replace("Input should", "should", 1)
    return kind, err["msg"]


def _unknown_key(key: str | int, loc: KeyPath, model: type[BaseModel]) -> tuple[str, str]:
    if isinstance(key, str) and key.lower() in _SECRET_KEYS:
        return "password_in_file", (
            f"{key!r} is not allowed: passwords come only from the environment "
            "(set password_env to the variable's name)"
        )
    known = known_keys(model, loc[:-1])
    hint = f"; known keys: {', '.join(known)}" if known else ""
    return "unknown_key", f"unknown key {key!r}{hint}"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "a value out of range"


def known_keys(model: type[BaseModel], loc: KeyPath) -> tuple[str, ...]:
    """Field names of the model found by walking `loc` from `model` (empty if lost)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return ()
        field = current.model_fields.get(part)
        if field is None:
            return ()
        current = _inner_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return tuple(current.model_fields)
    return ()


def _inner_model(annotation: Any) -> Any:
    """The model class inside `X`, `X | None`, `tuple[X, ...]` annotations, else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, tuple, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None
