"""Settings from the environment (``STARFACE_CONNECTOR_*``) and the command line."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "starface-connector"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STARFACE_CONNECTOR_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    module_login: str | None = None
    module_password: str | None = None
    admin_password: str | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    starface_url: str | None = None
    starface_login: str | None = None
    starface_password: str | None = None
    starface_ca_bundle: str | None = None
    starface_verify_tls: bool = True
    import_interval_minutes: float = 15.0

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'connector.db'}"
