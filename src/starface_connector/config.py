"""Settings from the environment (``STARFACE_CONNECTOR_*``); command-line options win."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .domain.rules import MAX_GROUP_MEMBERS


class ConfigurationError(ValueError):
    """A setting that cannot work; the message is one line for a person."""


_UNITS = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}
#: the shortest retention window: eventIds of a batch still being retried must stay known
MIN_RETENTION = timedelta(hours=1)
MAX_RETENTION = timedelta(days=36500)


def parse_duration(raw: str) -> timedelta:
    """A retention window as people write it: ``90d``, ``12h``, ``2w`` (at least 1h)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([wdh])\s*", raw.lower())
    if not found:
        raise ConfigurationError(
            f"not a duration: {raw!r} (write a number and a unit, e.g. 90d, 12h or 2w)"
        )
    amount, unit = float(found.group(1)), _UNITS[found.group(2)]
    if amount * (unit / timedelta(days=1)) > MAX_RETENTION.days:
        raise ConfigurationError(f"{raw!r} is too long: at most {MAX_RETENTION.days}d")
    duration = amount * unit
    if duration < MIN_RETENTION:
        raise ConfigurationError(f"{raw!r} is too short: keep at least 1h")
    return duration


def show_duration(duration: timedelta) -> str:
    """``90d``, ``36h``: the way :func:`parse_duration` reads it."""
    hours = duration / timedelta(hours=1)
    if hours % 24 == 0:
        return f"{hours / 24:g}d"
    return f"{hours:g}h"


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
    return value


Duration = Annotated[
    timedelta, BeforeValidator(_duration), Field(ge=MIN_RETENTION, le=MAX_RETENTION)
]


Network = IPv4Network | IPv6Network


def parse_networks(raw: str | Sequence[str]) -> list[Network]:
    """Addresses and networks as people write them: ``10.0.0.5``, ``10.0.0.0/8``, ``::1``,
    several separated by commas or spaces (or given one by one)."""
    items = [raw] if isinstance(raw, str) else list(raw)
    found: list[Network] = []
    for item in items:
        for part in re.split(r"[,\s]+", str(item).strip()):
            if not part:
                continue
            try:
                found.append(ip_network(part))
            except ValueError as exc:
                raise ConfigurationError(f"{part!r} is not an IP address or network") from exc
    return found


def _networks(value: Any) -> Any:
    if isinstance(value, (str, list, tuple)):
        try:
            return parse_networks(value)
        except ConfigurationError as exc:
            raise ValueError(str(exc)) from None
    return value


Networks = Annotated[list[Network], NoDecode, BeforeValidator(_networks)]


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "starface-connector"


class Settings(BaseSettings):
    """Every setting of the connector, read once by the composition root."""

    model_config = SettingsConfigDict(env_prefix="STARFACE_CONNECTOR_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    module_login: str | None = None
    module_password: SecretStr | None = None
    admin_password: SecretStr | None = None
    #: the bound on each wait for the database (connect, statement, free connection): past
    #: it a request answers 503 with Retry-After instead of hanging
    database_timeout_seconds: float = Field(default=5.0, ge=1.0, le=3600.0)
    #: ``json``: one JSON object per log line, and one line per request
    log_format: Literal["text", "json"] = "text"
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    starface_url: str | None = None
    starface_login: str | None = None
    starface_password: SecretStr | None = None
    starface_ca_bundle: Path | None = None
    starface_insecure: bool = False
    #: SHA-256 of the PBX's certificate: trusted alone, instead of a CA (appliances)
    starface_cert_fingerprint: str | None = None
    #: ``PermissionInfo.permission`` name of STARFACE's administration permission
    starface_admin_permission: str = Field(default="administration", min_length=1)
    import_interval_minutes: float = Field(default=15.0, ge=0.1)
    #: an import that would delete more than this share of the jtel users refuses unasked
    import_max_delete_share: float = Field(default=0.10, ge=0.0, le=1.0)
    #: without the PBX's Date header, the snapshot is dated this long before the connector
    import_clock_tolerance_seconds: float = Field(default=300.0, ge=0.0, le=86400.0)
    #: a GROUP_UPDATE naming more members than this is rejected, not applied
    max_group_members: int = Field(default=MAX_GROUP_MEMBERS, ge=1)
    #: ``purge`` deletes event log entries older than this
    event_log_retention: Duration = timedelta(days=90)
    #: ``purge`` forgets processed eventIds older than this: a later resend is not a duplicate
    event_id_retention: Duration = timedelta(days=7)
    #: ``serve`` purges at start and every 24 hours
    purge_daily: bool = False
    #: reverse proxies whose X-Forwarded-For names the client (env ..._TRUSTED_PROXY)
    trusted_proxies: Networks = Field(
        default_factory=list,
        validation_alias=AliasChoices("trusted_proxies", "STARFACE_CONNECTOR_TRUSTED_PROXY"),
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'connector.db'}"

    def check_starface(self) -> None:
        """A PBX address needs credentials and must be a web address; say which is wrong."""
        if not self.starface_url:
            return
        if not self.starface_login or self.starface_password is None:
            raise ConfigurationError(
                "--starface-url needs --starface-login and --starface-password too"
            )
        if not re.match(r"^https?://[^/\s]+", self.starface_url):
            raise ConfigurationError(
                f"--starface-url must be an http:// or https:// address, not {self.starface_url!r}"
            )
        if self.starface_ca_bundle is not None and not self.starface_ca_bundle.is_file():
            raise ConfigurationError(f"CA bundle {self.starface_ca_bundle} does not exist")
        chosen = [
            option
            for option, given in (
                ("--starface-ca-bundle", self.starface_ca_bundle is not None),
                ("--starface-cert-fingerprint", self.starface_cert_fingerprint is not None),
                ("--starface-insecure", self.starface_insecure),
            )
            if given
        ]
        if len(chosen) > 1:
            raise ConfigurationError(f"choose one of {' and '.join(chosen)}, not both")
        if self.starface_cert_fingerprint is not None:
            digits = self.starface_cert_fingerprint.replace(":", "").replace(" ", "").lower()
            if len(digits) != 64 or any(c not in "0123456789abcdef" for c in digits):
                raise ConfigurationError(
                    "--starface-cert-fingerprint must be the certificate's SHA-256: 64 hex "
                    "digits, e.g. as openssl x509 -noout -fingerprint -sha256 prints it"
                )


def secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()
