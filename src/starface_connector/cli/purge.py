"""``purge``: delete what is older than the retention windows."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from ..config import ConfigurationError, parse_duration, show_duration
from ..service.retention import moment
from .common import DatabaseUrl, open_connector, say, settings

OlderThan = Annotated[
    str | None,
    typer.Option(
        "--older-than",
        help="Delete event log entries received longer ago than this, e.g. 90d, 12h or 2w "
        "(default: STARFACE_CONNECTOR_EVENT_LOG_RETENTION, or 90d).",
        show_default=False,
    ),
]
EventIdsOlderThan = Annotated[
    str | None,
    typer.Option(
        "--event-ids-older-than",
        help="Forget processed eventIds seen longer ago than this: a resend is then decided "
        "again instead of answered duplicate (default: STARFACE_CONNECTOR_EVENT_ID_RETENTION, "
        "or 7d).",
        show_default=False,
    ),
]


def _window(option: str, raw: str | None) -> timedelta | None:
    if raw is None:
        return None
    try:
        return parse_duration(raw)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{option}: {exc}") from None


def purge(
    older_than: OlderThan = None,
    event_ids_older_than: EventIdsOlderThan = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete old event log entries and forget old eventIds, in small transactions."""
    event_log = _window("--older-than", older_than)
    event_ids = _window("--event-ids-older-than", event_ids_older_than)
    container = open_connector(settings(database_url=database_url))
    try:
        retention = container.retention
        report = retention.purge(event_log=event_log, event_ids=event_ids)
    finally:
        container.close()
    say(
        f"event log: {report.event_log_deleted} entries received before "
        f"{moment(report.event_log_before)} (older than "
        f"{show_duration(event_log or retention.event_log)}) deleted"
    )
    say(
        f"eventIds: {report.event_ids_forgotten} seen before {moment(report.event_ids_before)} "
        f"(older than {show_duration(event_ids or retention.event_ids)}) forgotten"
    )
