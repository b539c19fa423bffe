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
    """Settings the commands read here; options with a command-line flag (the STARFACE ones,
    the import interval, host, port, database URL) are read by Typer with the same names."""

    model_config = SettingsConfigDict(env_prefix="STARFACE_CONNECTOR_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    module_login: str | None = None
    module_password: str | None = None
    admin_password: str | None = None
    max_body_bytes: int = 8 * 1024 * 1024

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'connector.db'}"
