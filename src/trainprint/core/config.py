"""Typed, frozen configs and named presets.

Every trainable piece keeps its settings in a frozen dataclass with a comment on each field and a
``PRESETS`` dict mapping preset names to complete configs. ``PRESET_NAMES`` are the names the user
sees: ``paper`` (the paper's settings), ``fast`` (sized for a 2-core CPU) and ``smoke`` (a couple of
iterations on tiny data, used by the test suite).
"""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Mapping, TypeVar

from trainprint.core.errors import TrainprintError

PRESET_NAMES = ("paper", "fast", "smoke")

C = TypeVar("C")


def get_preset(presets: Mapping[str, C], name: str, what: str) -> C:
    """``presets[name]`` or a TrainprintError naming the choices."""
    if name not in presets:
        raise TrainprintError(f"{what}: unknown preset {name!r}; expected one of {', '.join(presets)}")
    return presets[name]


def override(cfg: C, **changes: Any) -> C:
    """``dataclasses.replace`` that ignores ``None`` values and rejects unknown or mistyped keys."""
    changes = {k: v for k, v in changes.items() if v is not None}
    fields = {f.name: f for f in dataclasses.fields(cfg)}  # type: ignore[arg-type]
    for key, value in changes.items():
        if key not in fields:
            raise TrainprintError(
                f"{type(cfg).__name__}: unknown setting {key!r}; expected one of {', '.join(fields)}"
            )
        current = getattr(cfg, key)
        if current is not None and not isinstance(value, type(current)) and not (
            isinstance(current, float) and isinstance(value, int)
        ):
            raise TrainprintError(
                f"{type(cfg).__name__}.{key}: expected {type(current).__name__}, got {value!r}"
            )
    return dataclasses.replace(cfg, **changes)  # type: ignore[type-var]


def config_from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Rebuild a (nested) frozen config dataclass from ``dataclasses.asdict`` output that went
    through JSON or ``torch.save`` (lists come back as tuples where the field's default is a tuple).

    Unknown keys are errors, so a file written by another version never half-loads."""
    import typing

    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise TrainprintError(f"{cls.__name__}: unknown setting {unknown[0]!r} in a saved config")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints.get(name)
        options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
        nested = [h for h in options if isinstance(h, type) and dataclasses.is_dataclass(h)]
        if nested and isinstance(value, Mapping):  # a config inside the config (or an optional one)
            value = config_from_dict(nested[0], value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)
