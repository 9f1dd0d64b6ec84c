"""Dataclasses to JSON and back, from their own type hints.

A run's options travel to a child process and its outcome comes back; an orchestrator
passes outcomes between tasks. Each way is derived from the dataclass, so a field added
to `RunOptions` or `RunOutcome` travels without anyone mirroring it by hand.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pipelines import errors as error_types
from pipelines.errors import ChatfunnelError

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses as objects of their fields (a field typed
    `Any` as its text unless it is plain data), times as ISO text, paths as text, an error
    as its type, message and step; what JSON cannot hold otherwise as its text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        hints = typing.get_type_hints(type(value))
        return {f.name: _untyped(getattr(value, f.name)) if hints[f.name] is Any else to_json(getattr(value, f.name))
                for f in dataclasses.fields(value)}
    if isinstance(value, ChatfunnelError):
        return {"type": type(value).__name__, "message": str(value), "step": value.step}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _untyped(value: Any) -> Any:
    """A field typed `Any` holds what its reader prints (the reports built: their summary):
    plain JSON data as it is, anything else as its text, never as its insides."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return to_json(value)
    return str(value)


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    """The dataclass `cls` from `to_json`'s data; a field the data lacks keeps its default."""
    hints = typing.get_type_hints(cls)
    values = {f.name: decode(hints[f.name], data[f.name])
              for f in dataclasses.fields(cls) if f.init and f.name in data}  # type: ignore[arg-type]
    return cls(**values)


def decode(hint: Any, data: Any) -> Any:
    """One value of type `hint` from its JSON data."""
    if data is None or hint is Any:
        return data
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return decode(next(a for a in typing.get_args(hint) if a is not type(None)), data)
    if origin in (list, tuple, dict):
        return _decode_container(origin, typing.get_args(hint), data)
    if dataclasses.is_dataclass(hint):
        return from_json(hint, data)  # type: ignore[arg-type]
    if isinstance(hint, type) and issubclass(hint, ChatfunnelError):
        error_class = getattr(error_types, data["type"], ChatfunnelError)
        return error_class(data["message"], step=data["step"])
    if hint is datetime:
        return datetime.fromisoformat(data)
    if hint is Path:
        return Path(data)
    if hint is float:
        return float(data)
    return data


def _decode_container(origin: type, args: tuple[Any, ...], data: Any) -> Any:
    if origin is dict:
        value_hint = args[1] if args else Any
        return {key: decode(value_hint, item) for key, item in data.items()}
    item_hint = args[0] if args else Any
    items = [decode(item_hint, item) for item in data]
    return tuple(items) if origin is tuple else items
