"""Plain JSON: the values every store can write *and read back*.

Python's ``json`` module accepts more than JSON: ``NaN`` and ``Infinity``, integers of any
size, and strings holding lone UTF-16 surrogates (``"\\ud800"``), which no UTF-8 encoder
can write. Qdrant (the server and the embedded edge store alike) parses payloads with
serde_json and logs operations in a CBOR write-ahead log, both with a recursion limit of 128:
a payload nested about 127 levels deep is accepted by the write but can never be read back,
and its log entry stops the shard from opening. So every value that reaches a store, a job
queue or a response is checked here first: finite numbers, integers within 64 bits, valid
Unicode, and at most ``MAX_DEPTH`` levels of nesting (far below the parsers' limit, so that a
payload wrapped in an operation still decodes).

Free of third-party imports: the API, the indexer, the jobs and the stores all use it.
"""

from __future__ import annotations

import math
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: The deepest nesting any value may have, wherever it comes from (settings may only lower it).
MAX_DEPTH = 32


def is_unicode(text: str) -> bool:
    """True when ``text`` is valid Unicode (no lone surrogates): it can be written as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(value: object, limit: int = 40) -> str:
    """A short, ASCII-only rendering of a caller's value for an error message (a message
    that echoed a lone surrogate could not itself be sent)."""
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def problem(value: object, *, max_depth: int = MAX_DEPTH, name: str = "value") -> str | None:
    """Why ``value`` is not plain JSON within ``max_depth`` levels, or None when it is.

    Iterative, so a hostile value nested thousands of levels deep costs no Python recursion.
    """
    stack: list[tuple[object, int, str]] = [(value, 0, name)]
    while stack:
        item, depth, where = stack.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            if not is_unicode(item):
                return f"{where} is not valid Unicode (it holds a lone surrogate)"
        elif isinstance(item, int):
            if not INT64_MIN <= item <= INT64_MAX:
                return f"{where} is an integer outside the signed 64-bit range"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{where} is {item!r}; NaN and Infinity are not JSON numbers"
        elif isinstance(item, dict | list):
            if depth + 1 > max_depth:
                return f"{where} is nested more than {max_depth} levels deep"
            children: Any = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(item, dict):
                    if not isinstance(key, str):
                        return f"{where} has a key {shown(key)} that is not a string"
                    if not is_unicode(key):
                        return f"{where} has a key {shown(key)} that is not valid Unicode"
                    label = f"{where}.{key}" if len(key) <= 40 else f"{where}.{key[:37]}..."
                else:
                    label = f"{where}[{key}]"
                stack.append((child, depth + 1, label))
        else:
            return f"{where} holds a {type(item).__name__}, which is not a JSON value"
    return None
