"""The filter language of every search, count, facet and browse, checked once, before any
backend sees it, and parsed into clauses that each backend translates the same way.

A filter is a JSON object; every entry must hold (AND):

``{"label": "dress"}``                                  exact match (string, number, bool)
``{"label": ["dress", "skirt"]}``                        any of (strings or integers)
``{"label": {"in": ["dress", "skirt"]}}``                the same, spelt out
``{"width": {"gte": 100, "lt": 2000}}``                  numeric range (gt, gte, lt, lte)
``{"taken_at": {"gte": "2024-06-01", "lt": "2024-07-01T12:00:00+02:00"}}``
                                                        datetime range (ISO 8601; a date or a
                                                        time without offset is UTC)
``{"not": {"label": "hat", "format": "png"}}``           negation: not (all of these)
``{"not": [{"label": "hat"}, {"format": "png"}]}``       none of these
``{"metadata.author": "ann"}``                           fields of the caller's metadata

Allowed fields are ``SYSTEM_FIELDS`` and ``metadata.<key>``; anything else is a FilterError.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from visearch import plainjson
from visearch.errors import VisearchError

#: Payload fields an indexed image may have (EXIF ones only when the file had them) and that
#: filters may use.
SYSTEM_FIELDS: frozenset[str] = frozenset({
    "image_id", "filename", "source", "format", "width", "height", "bytes", "indexed_at",
    "label", "taken_at", "camera", "camera_make", "camera_model", "duplicate_of",
})
RANGE_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
NOT = "not"
#: ``not`` inside ``not`` inside ...: deeper than this is refused.
MAX_NOT_DEPTH = 4
#: Conditions in one filter, all levels together.
MAX_CONDITIONS = 64
METADATA_KEY = re.compile(r"^metadata\.[A-Za-z0-9_\-]{1,64}$")

Filter = dict[str, Any]
Scalar = str | int | float | bool


class FilterError(VisearchError, ValueError, code="invalid_filter", status=422):
    """A filter is malformed or names an unknown field."""


@dataclass(frozen=True)
class Match:
    """``key`` equals ``value`` (a float is matched as the closed range [value, value])."""

    key: str
    value: Scalar


@dataclass(frozen=True)
class MatchAny:
    """``key`` is one of ``values`` (strings and integers may be mixed)."""

    key: str
    values: tuple[str | int, ...]

    @property
    def strings(self) -> list[str]:
        return [v for v in self.values if isinstance(v, str)]

    @property
    def integers(self) -> list[int]:
        return [v for v in self.values if not isinstance(v, str)]


@dataclass(frozen=True)
class Range:
    """A numeric range (``datetime`` False) or a datetime range (bounds are ISO strings)."""

    key: str
    bounds: tuple[tuple[str, float | str], ...]
    datetime: bool = False


@dataclass(frozen=True)
class Not:
    """None of ``groups`` holds, each group being an AND of clauses."""

    groups: tuple[tuple[Clause, ...], ...]


Clause = Match | MatchAny | Range | Not


def validate_filter(flt: Filter | None) -> Filter | None:
    """Check a filter against the language above; return it unchanged or raise FilterError."""
    parse_filter(flt)
    return flt


def parse_filter(flt: Filter | None) -> tuple[Clause, ...]:
    """The clauses of a filter (all must hold), or FilterError saying what is wrong."""
    if flt is None:
        return ()
    counter = [0]
    return _parse(flt, depth=0, counter=counter)


def _parse(flt: object, depth: int, counter: list[int]) -> tuple[Clause, ...]:
    if not isinstance(flt, dict):
        raise FilterError("filter must be an object of field: condition")
    clauses: list[Clause] = []
    for key, cond in flt.items():
        counter[0] += 1
        if counter[0] > MAX_CONDITIONS:
            raise FilterError(f"a filter may hold at most {MAX_CONDITIONS} conditions")
        if key == NOT:
            clauses.append(_parse_not(cond, depth, counter))
            continue
        if not isinstance(key, str) or (key not in SYSTEM_FIELDS and not METADATA_KEY.match(key)):
            allowed = ", ".join(sorted(SYSTEM_FIELDS))
            raise FilterError(
                f"unknown filter field {plainjson.shown(key)}; use one of {allowed}, "
                "metadata.<key> or not"
            )
        # Lone surrogates and integers beyond 64 bits cannot be sent to any backend.
        reason = plainjson.problem(cond, name=f"filter value of {key!r}")
        if reason is not None:
            raise FilterError(reason)
        clauses.append(_parse_condition(key, cond))
    return tuple(clauses)


def _parse_not(cond: object, depth: int, counter: list[int]) -> Not:
    if depth >= MAX_NOT_DEPTH:
        raise FilterError(f"'not' may be nested at most {MAX_NOT_DEPTH} deep")
    groups = cond if isinstance(cond, list) else [cond]
    if not groups:
        raise FilterError("'not' needs a filter object or a non-empty list of them")
    parsed = tuple(_parse(g, depth + 1, counter) for g in groups)
    if any(not g for g in parsed):
        raise FilterError("'not' of an empty filter would match nothing; remove it")
    return Not(parsed)


def _parse_condition(key: str, cond: object) -> Clause:
    if isinstance(cond, dict):
        if set(cond) == {"in"}:
            return _match_any(key, cond["in"])
        if not cond or set(cond) - RANGE_OPS:
            raise FilterError(f"condition on {key!r} takes {{\"in\": [...]}} or range "
                              f"operators {sorted(RANGE_OPS)}")
        return _range(key, cond)
    if isinstance(cond, list):
        return _match_any(key, cond)
    if not isinstance(cond, str | int | float | bool):
        raise FilterError(f"condition on {key!r} must be a value, a list or an object")
    if isinstance(cond, float) and not math.isfinite(cond):
        raise FilterError(f"condition on {key!r} must be a finite number")
    return Match(key, cond)


def _match_any(key: str, values: object) -> MatchAny:
    if (not isinstance(values, list) or not values
            or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)):
        raise FilterError(f"match-any on {key!r} needs a non-empty list of strings or integers")
    return MatchAny(key, tuple(values))


def _range(key: str, cond: dict[str, Any]) -> Range:
    bounds = list(cond.items())
    if all(isinstance(b, str) for _, b in bounds):
        return Range(key, tuple((op, parse_datetime(b, f"{key}.{op}")) for op, b in bounds),
                     datetime=True)
    for op, bound in bounds:
        if (isinstance(bound, bool) or not isinstance(bound, int | float)
                or not _finite_number(bound)):
            raise FilterError(f"range bound {key}.{op} must be a finite number (integers within "
                              "64 bits) or, for every bound, an ISO 8601 date-time")
    return Range(key, tuple((op, float(b)) for op, b in bounds))


def parse_datetime(text: str, what: str = "date-time") -> str:
    """An ISO 8601 date or date-time as RFC 3339 in UTC (what both backends parse alike); a
    value without an offset is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise FilterError(f"{what}: {plainjson.shown(text)} is not an ISO 8601 date-time "
                          "(e.g. 2024-06-01 or 2024-06-01T12:30:00+02:00)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _finite_number(value: int | float) -> bool:
    if isinstance(value, int):
        return plainjson.INT64_MIN <= value <= plainjson.INT64_MAX
    return math.isfinite(value)


def filter_fields(clauses: Sequence[Clause]) -> set[str]:
    """Every field a parsed filter reads."""
    out: set[str] = set()
    for c in clauses:
        if isinstance(c, Not):
            for group in c.groups:
                out |= filter_fields(group)
        else:
            out.add(c.key)
    return out
