"""Each fleet-file key is declared once, as the metadata of the dataclass field it fills (`key`): its kind
(type and range), its default where the file is silent, and one line of doc. The declarations drive the
generic reader (`read_section`), the allowed keys with their "did you mean" (`check_keys`) and the defaults;
the keys whose reading needs more than a type and a range (paths, references, the slot list, custom rules)
are declared `SPECIAL` and read by `config.read`."""

from __future__ import annotations

import difflib
import math
from dataclasses import MISSING, dataclass, field, fields
from enum import StrEnum
from typing import Any

from ..errors import ConfigError
from ..types import StakingSystem

KEY = "stakealloc.key"  # the field-metadata entry that makes a dataclass field a fleet-file key


def join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


@dataclass(frozen=True)
class Number:
    """A finite number in a range; `lo_open`: the lower bound itself is refused."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False

    def read(self, v: object, name: str) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ConfigError(f"{name}: must be a number, got {type(v).__name__} {v!r}")
        v = float(v)
        if not math.isfinite(v):
            raise ConfigError(f"{name}: must be finite, got {v}")
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            raise ConfigError(f"{name}: must be {'>' if self.lo_open else '≥'} {self.lo:g}, got {v:g}")
        if self.hi is not None and v > self.hi:
            raise ConfigError(f"{name}: must be ≤ {self.hi:g}, got {v:g}")
        return v


@dataclass(frozen=True)
class Whole:
    """A whole number ≥ lo (and ≤ hi)."""

    lo: int
    hi: int | None = None

    def read(self, v: object, name: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise ConfigError(f"{name}: must be a whole number, got {type(v).__name__} {v!r}")
        if v < self.lo:
            raise ConfigError(f"{name}: must be ≥ {self.lo}, got {v}")
        if self.hi is not None and v > self.hi:
            raise ConfigError(f"{name}: must be ≤ {self.hi}, got {v}")
        return v


@dataclass(frozen=True)
class Flag:
    def read(self, v: object, name: str) -> bool:
        if not isinstance(v, bool):
            raise ConfigError(f"{name}: must be true or false, got {v!r}")
        return v


@dataclass(frozen=True)
class Text:
    def read(self, v: object, name: str) -> str:
        if not isinstance(v, str):
            raise ConfigError(f"{name}: must be a string, got {type(v).__name__} {v!r}")
        return v


@dataclass(frozen=True)
class Choice:
    """One of an enum's values (read as the member) or of a tuple of strings, with a did-you-mean."""

    options: type[StrEnum] | tuple[str, ...]

    @property
    def values(self) -> tuple[str, ...]:
        if isinstance(self.options, tuple):
            return self.options
        return tuple(o.value for o in self.options)

    def read(self, v: object, name: str) -> Any:
        text = Text().read(v, name)
        choices = self.values
        if text not in choices:
            near = difflib.get_close_matches(text, choices, n=1, cutoff=0.5)
            lowered = {c.lower(): c for c in choices}
            if text.lower() in lowered:
                near = [lowered[text.lower()]]
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ConfigError(f"{name}: {text!r} is not one of {', '.join(choices)}{hint}")
        return text if isinstance(self.options, tuple) else self.options(text)


@dataclass(frozen=True)
class Special:
    """Read by the section's own code in `config.read` (a path, a reference, a table, the rules)."""

    def read(self, v: object, name: str) -> Any:  # pragma: no cover - never called: see read_section
        raise AssertionError(f"{name} is read by config.read")


SPECIAL = Special()
Kind = Number | Whole | Flag | Text | Choice | Special


@dataclass(frozen=True)
class Key:
    """One fleet-file key: `default` is what the parser yields where the file is silent (None: the API, the
    rules or another key settles it); `only`: the staking system outside which the key is an error."""

    kind: Kind
    doc: str
    default: Any = None
    only: StakingSystem | None = None


def key(kind: Kind, doc: str, default: Any = None, *, field_default: Any = MISSING, only: StakingSystem | None = None,
        required_field: bool = False) -> Any:
    """A dataclass field that is a fleet-file key. The field's own default is the key's `default` unless
    `field_default` says otherwise (a resolved record may know better than the file: the objective's default);
    `required_field`: the resolved record has no default (the leverage, settled by `resolve`)."""
    meta = {KEY: Key(kind=kind, doc=doc, default=default, only=only)}
    if required_field:
        return field(metadata=meta)
    return field(default=default if field_default is MISSING else field_default, metadata=meta)


def declared(cls: type) -> dict[str, Key]:
    """The keys a section class declares, in declaration order: its fields' and its `EXTRA_KEYS`."""
    out = {f.name: f.metadata[KEY] for f in fields(cls) if KEY in f.metadata}
    out.update(getattr(cls, "EXTRA_KEYS", {}))
    return out


def check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Every key of `table` is one of `allowed`, or a ConfigError naming it with the closest allowed one."""
    for k in table:
        if k not in allowed:
            near = difflib.get_close_matches(k, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else f"; allowed keys: {', '.join(allowed)}"
            raise ConfigError(f"{join(where, k)}: unknown key{hint}")


def read_section(table: dict[str, Any], cls: type, where: str) -> dict[str, Any]:
    """The section's declared keys checked (unknown keys refused first), each non-special key read by its
    kind or given its default, by name; special keys are left to the caller."""
    keys = declared(cls)
    check_keys(table, tuple(keys), where)
    return {name: (k.kind.read(table[name], join(where, name)) if name in table else k.default)
            for name, k in keys.items() if not isinstance(k.kind, Special)}


def defaults(cls: type) -> dict[str, Any]:
    """The declared default of every key of `cls` (for tests and the README check)."""
    return {name: k.default for name, k in declared(cls).items()}
