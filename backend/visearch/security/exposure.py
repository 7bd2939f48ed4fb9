"""How exposed the server is, and what follows: single-user mode (no keys, loopback address)
needs nothing; a non-loopback address needs keys unless allowed explicitly; the Host names the
server answers to (DNS rebinding); client limits on or off; names safe to show anyone."""

from __future__ import annotations

import ipaddress
from fnmatch import fnmatchcase
from pathlib import Path

from visearch.config import ConfigError, Settings

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def single_user(settings: Settings) -> bool:
    """No keys and bound to loopback: the person at this machine is the only client."""
    return settings.api_keys_file is None and is_loopback(settings.host)


def limits_enabled(settings: Settings) -> bool:
    """Rate limits and job quotas: ``client_limits``, where ``auto`` means "unless single-user"."""
    if settings.client_limits == "auto":
        return not single_user(settings)
    return settings.client_limits == "on"


def check_bind(settings: Settings) -> None:
    """Refuse to serve a non-loopback address without keys, unless allowed explicitly."""
    if settings.api_keys_file is None and not is_loopback(settings.host) \
            and not settings.allow_unauthenticated:
        raise ConfigError(
            f"refusing to serve {settings.host!r} without API keys: anyone who can reach it "
            "could read and change the collection. Set VISEARCH_API_KEYS_FILE (see `visearch "
            "keys create`), bind 127.0.0.1, or set VISEARCH_ALLOW_UNAUTHENTICATED=true"
        )


def host_patterns(settings: Settings) -> tuple[str, ...]:
    """Host names (lower case, ``fnmatch`` patterns) the server answers to; ``("*",)`` for any.

    Always loopback names and the bind address; plus ``allowed_hosts``. Bound to every
    address (0.0.0.0) with no ``allowed_hosts``, any Host is accepted: the names a deployment
    is reached by (pod IPs, service names) are not known here, and such a server has keys or
    was allowed to run without them.
    """
    bind = settings.host.strip("[]").lower()
    if bind in _WILDCARD and not settings.allowed_hosts:
        return ("*",)
    names = [*LOOPBACK_NAMES, *(h.strip().lower() for h in settings.allowed_hosts)]
    if bind not in _WILDCARD:
        names.append(bind)
    return tuple(dict.fromkeys(n.strip("[]") for n in names if n))


def host_allowed(host_header: str, patterns: tuple[str, ...]) -> bool:
    """Whether a ``Host`` header (``name[:port]``, ``[v6]:port``) matches one of ``patterns``."""
    if "*" in patterns:
        return True
    value = host_header.strip().lower()
    if value.startswith("["):
        name = value[1:value.find("]")] if "]" in value else ""
    else:
        name = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    if not name:
        return False
    return any(fnmatchcase(name, p) for p in patterns)


def public_name(name: str) -> str:
    """A model id or source as shown to clients: a server path becomes its last part (hub
    ids such as ``openai/clip-vit-base-patch32`` stay whole)."""
    if name.startswith(("/", "./", "../", "~")) or "\\" in name:
        return Path(name).name or name
    return name
