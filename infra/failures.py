"""What kind of failure an exception is, for the consumers that must decide between waiting and moving on.

- ``OUTAGE``: a service is unreachable or failed this attempt (connection refused or lost, a pool or bus timeout,
  a lock wait): nothing is wrong with the work; wait and try again, never give it up.
- ``SYSTEMIC``: every item would fail the same way (a missing table or column, a permission): the consumer is stuck
  until an operator fixes the cause; report it, retry slowly, never give items up for it.
- ``ITEM``: this item cannot be handled (a value the store refuses, a constraint, an event that does not decode, a
  bug in a handler): after a few tries, park it and move on.
"""

from __future__ import annotations

import asyncio
import sqlite3

OUTAGE, SYSTEMIC, ITEM = "outage", "systemic", "item"


def _outage_classes() -> tuple[type[BaseException], ...]:
    classes: list[type[BaseException]] = [ConnectionError, TimeoutError, asyncio.TimeoutError, OSError]
    try:
        import psycopg
        import psycopg_pool

        classes += [psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout]
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    from eventsourcing import persistence

    classes += [persistence.OperationalError, persistence.InterfaceError]
    try:
        from nats import errors as nats_errors

        classes += [
            nats_errors.ConnectionClosedError,
            nats_errors.TimeoutError,
            nats_errors.NoServersError,
            nats_errors.OutboundBufferLimitError,
            nats_errors.StaleConnectionError,
            nats_errors.ConnectionDrainingError,
            nats_errors.ConnectionReconnectingError,
            nats_errors.NoRespondersError,
        ]
    except ImportError:  # pragma: no cover - nats-py is a dependency
        pass
    return tuple(classes)


def _systemic_classes() -> tuple[type[BaseException], ...]:
    classes: list[type[BaseException]] = []
    import psycopg

    classes += [psycopg.ProgrammingError, psycopg.InternalError, psycopg.NotSupportedError]
    from eventsourcing import persistence

    classes += [persistence.ProgrammingError, persistence.InternalError, persistence.NotSupportedError]
    return tuple(classes)


_OUTAGE = _outage_classes()
_SYSTEMIC = _systemic_classes()
_SQLITE_SYSTEMIC = ("no such table", "no such column", "readonly", "disk i/o error", "unable to open")


def kind_of(error: BaseException) -> str:
    """``OUTAGE``, ``SYSTEMIC`` or ``ITEM`` (see the module's docstring)."""
    if isinstance(error, sqlite3.OperationalError):
        message = str(error).lower()
        return SYSTEMIC if any(m in message for m in _SQLITE_SYSTEMIC) else OUTAGE
    if isinstance(error, _SYSTEMIC):
        return SYSTEMIC
    if isinstance(error, _OUTAGE):
        return OUTAGE
    cause = error.__cause__
    if cause is not None and cause is not error:
        return kind_of(cause)
    return ITEM


def is_outage(error: BaseException) -> bool:
    return kind_of(error) == OUTAGE


def describe(error: BaseException, limit: int = 300) -> str:
    """A short, storable description of a failure: its class and first line (never a NUL or a lone surrogate)."""
    text = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:limit]
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
