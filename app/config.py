"""Settings: the only place environment variables are read."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE_NAME = "secret_key"  # noqa: S105 (a file name, not a secret)


class Settings(BaseSettings):
    """Every setting is documented in docs/configuration.md (a test checks that)."""

    model_config = SettingsConfigDict(env_prefix="EYEBALL_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./data"),
        description="Folder for the SQLite database, the media and the generated secret key.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty means SQLite at DATA_DIR/eyeball.db; "
        "use postgresql+psycopg://user@host/db for PostgreSQL.",
    )
    media_dir: Path | None = Field(
        default=None,
        description="Where images and thumbnails are stored. Default: DATA_DIR/media.",
    )
    media_backend: Literal["local", "s3"] = Field(
        default="local",
        description="Where images and thumbnails are kept: `local` (the media folder) or "
        "`s3` (any S3-compatible bucket; import jobs and staging stay in the media folder).",
    )
    s3_endpoint_url: str = Field(
        default="",
        description="The S3-compatible store's URL, e.g. http://minio:9000. Empty means AWS S3.",
    )
    s3_bucket: str = Field(
        default="", description="The bucket that holds the media (it must exist already)."
    )
    s3_access_key_id: str = Field(
        default="",
        description="Access key for the bucket. Empty means boto3's usual search "
        "(AWS_ACCESS_KEY_ID, ~/.aws, an instance role).",
    )
    s3_secret_access_key: str = Field(
        default="", description="Secret key that goes with S3_ACCESS_KEY_ID."
    )
    s3_region: str = Field(default="us-east-1", description="The bucket's region.")
    media_signed_urls: bool = Field(
        default=False,
        description="With the s3 backend: after the access check, answer an image request "
        "with a redirect (307) to a short-lived signed URL of the store instead of "
        "streaming the bytes through Eyeball. The browser must reach S3_ENDPOINT_URL.",
    )
    media_signed_url_seconds: int = Field(
        default=300,
        ge=10,
        le=7 * 24 * 3600,
        description="How long a signed image URL stays valid (seconds).",
    )
    secret_key: str = Field(
        default="",
        description="Signs session cookies and CSRF tokens. When empty, one is generated "
        "once and kept in DATA_DIR/secret_key.",
    )
    host: str = Field(default="127.0.0.1", description="Address `eyeball serve` binds to.")
    port: int = Field(default=8000, description="Port `eyeball serve` listens on.")
    workers: int = Field(
        default=1,
        ge=1,
        description="uvicorn worker processes `eyeball serve` starts (PostgreSQL for more than 1).",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1,::1",
        description="Addresses of the reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto `eyeball serve` believes (comma-separated, or * for any).",
    )
    https: bool = Field(
        default=False,
        description="Set when served behind HTTPS: cookies get the Secure flag, answers HSTS.",
    )
    default_language: Literal["en", "zh_CN"] = Field(
        default="en",
        description="Language of the pages for a reader who chose none on My account and "
        "whose browser asks for none Eyeball has: `en` (English) or `zh_CN` (简体中文).",
    )
    session_max_age: int = Field(
        default=14 * 24 * 3600, description="Seconds a sign-in lasts without activity."
    )
    metrics_token: str = Field(
        default="",
        description="Bearer token that /metrics asks for. Empty: /metrics answers requests "
        "from this machine only (a local Prometheus, or one scraping through an SSH tunnel).",
    )
    sqlite_busy_timeout_ms: int = Field(
        default=30_000,
        description="How long an SQLite writer waits for another writer before giving up.",
    )

    one_time_password_hours: int = Field(
        default=72,
        ge=1,
        description="Hours a one-time password (a new account's, a reset's) works if unused.",
    )

    max_image_pixels: int = Field(
        default=50_000_000,
        ge=1,
        description="Largest image accepted at import, in pixels (refuses decompression bombs).",
    )
    max_zip_entries: int = Field(
        default=100_000,
        ge=1,
        description="Most files an imported images zip or folder may hold.",
    )
    max_zip_bytes: int = Field(
        default=4 * 1024**3,
        ge=1,
        description="Largest total uncompressed size of an imported images zip or folder (bytes).",
    )

    max_zip_entry_bytes: int = Field(
        default=256 * 1024**2,
        ge=1,
        description="Largest single file of an imported images zip or folder, uncompressed "
        "(bytes); counted while it inflates.",
    )
    max_manifest_rows: int = Field(
        default=200_000,
        ge=1,
        description="Most rows one manifest (or push) may hold; larger sets are imported in "
        "several parts into the same run.",
    )
    max_manifest_line_chars: int = Field(
        default=1_000_000,
        ge=1,
        description="Longest line of a manifest, in characters; read no further than that, "
        "so a longer line is a numbered problem and reading stops.",
    )
    max_manifest_field_chars: int = Field(
        default=100_000,
        ge=1,
        le=131_072,
        description="Longest value of one manifest cell (a text sample, a metadata value), in "
        "characters; at most 131,072, the CSV reader's own limit.",
    )
    max_body_bytes: int = Field(
        default=1024**2,
        ge=1,
        description="Largest request body of every route but an import's upload and a push "
        "(bytes); counted as it arrives.",
    )
    max_upload_bytes: int = Field(
        default=5 * 1024**3,
        ge=1,
        description="Largest import upload, manifest and images together (bytes); counted "
        "as it arrives, and only read once the sender is known to be the project's lead.",
    )

    @model_validator(mode="after")
    def _fill_derived(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'eyeball.db').resolve()}"
        if self.media_dir is None:
            self.media_dir = self.data_dir / "media"
        if self.media_backend == "s3" and not self.s3_bucket:
            raise ValueError("EYEBALL_MEDIA_BACKEND=s3 needs EYEBALL_S3_BUCKET")
        return self

    @property
    def media_path(self) -> Path:
        assert self.media_dir is not None  # filled by the validator
        return self.media_dir

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def ensure_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.media_path.mkdir(parents=True, exist_ok=True)

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept in the data folder.

        Kept on disk rather than generated per process so that sign-ins survive a
        restart and several workers agree on signatures.
        """
        if self.secret_key:
            return self.secret_key
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / SECRET_FILE_NAME
        if not path.exists():
            # O_EXCL: when several workers start together only one key wins.
            try:
                with path.open("x", encoding="utf-8") as f:
                    f.write(secrets.token_urlsafe(48))
                path.chmod(0o600)
            except FileExistsError:
                pass
        return path.read_text(encoding="utf-8").strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
