"""The gateway's own settings, read once from ``LLM_API_*`` environment variables (and ``.env``).

Each runtime reads its own (``LLM_API_<PROVIDER>_*``: its key, base URL...) into the settings class it declares
(``runtimes.base.RuntimeSettings``); what is here serves every runtime alike."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_API_", env_file=".env", extra="ignore")

    # Where and how the gateway runs.
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    database_url: str | None = None  # postgresql://user@host:5432/db; unset: SQLite in data_dir
    database_schema: str | None = None  # PostgreSQL schema for every table (tests use one per run)
    nats_url: str | None = None  # nats://127.0.0.1:4222; unset: the in-process bus
    nats_prefix: str = "pluggably"
    bus_max_payload_bytes: int = Field(1024 * 1024, ge=64 * 1024)  # NATS's max_payload (the server's, when lower)
    log_level: str = "INFO"

    # Security.
    master_key: SecretStr | None = None  # base64 32 bytes; unset: generated into data_dir/master.key (0600)
    key_hash_secret: SecretStr | None = None  # HMAC key for API key hashes; unset: derived from the master key
    session_ttl_s: float = Field(43200.0, gt=0)  # lifetime of the key a password sign-in issues (12 h)
    login_failure_limit: int = Field(5, ge=1)  # failed sign-ins per username and window before a 429
    login_failure_window_s: float = Field(60.0, gt=0)
    cors_origins: str = ""  # comma-separated origins allowed to call the API from a browser ("*": any)

    # What callers may send: a larger body is a 413, deeper JSON a 400, more input text a 413.
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=4096)
    max_json_depth: int = Field(64, ge=4, le=1000)
    max_input_bytes: int = Field(4 * 1024 * 1024, ge=1)  # the text of one request's prompt and messages (UTF-8)

    # Behaviour.
    inline_max_bytes: int = 1_000_000
    request_timeout_s: float = 300.0
    work_ack_wait_s: float = 30.0
    sweeper_interval_s: float = 10.0
    sweeper_grace_s: float = 15.0
    read_your_writes_timeout_s: float = 3.0
    allow_user_downloads: bool = False

    # Commercial providers (each one's key and base URL are its runtime's settings).
    provider_timeout_s: float = 60.0
    provider_max_retries: int = 2

    # Local runtimes.
    local_text_model_path: str | None = None
    local_image_model_id: str | None = None
    local_3d_model_id: str | None = None
    local_memory_budget_mb: int = 8192
    local_idle_unload_s: float = 900.0
    models_dir: Path | None = None  # default: data_dir/models
    hf_endpoint: str | None = None
    hf_token: SecretStr | None = None  # for gated or private Hugging Face repositories

    # The web app (PlugAI): the built files it serves at /; unset: frontend/dist of the source tree.
    web_dir: Path | None = None

    runtimes: str | None = Field(default=None, description="comma-separated runtimes a worker serves")

    @property
    def embedded(self) -> bool:
        return self.nats_url is None

    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())

    def secret(self, name: str) -> str | None:
        value = getattr(self, name, None)
        return value.get_secret_value() if value is not None else None
