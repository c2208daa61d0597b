"""The two media stores for tests: the local folder and a bucket on a real S3-compatible
server (moto's, started in this process on a free port; no mock of our own)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from app.config import Settings
from app.domain.imports.store import MediaStore, media_store

MEDIA_BACKENDS = ["local", "s3"]
ACCESS_KEY = "eyeball-test"
SECRET_KEY = "eyeball-test-secret"  # moto accepts any pair
REGION = "us-east-1"


class S3Server:
    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        name = f"eyeball-{secrets.token_hex(6)}"
        self.client.create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def env(self, bucket: str) -> dict[str, str]:
        """The settings of a server process that keeps its media in `bucket`."""
        return {
            "EYEBALL_MEDIA_BACKEND": "s3",
            "EYEBALL_S3_ENDPOINT_URL": self.endpoint_url,
            "EYEBALL_S3_BUCKET": bucket,
            "EYEBALL_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "EYEBALL_S3_SECRET_ACCESS_KEY": SECRET_KEY,
            "EYEBALL_S3_REGION": REGION,
        }


def start_s3_server(port: int) -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def media_settings(
    backend: str, data_dir: Path, request: pytest.FixtureRequest, **overrides: Any
) -> Settings:
    """Test settings whose media are in the local folder or in a fresh bucket."""
    fields: dict[str, Any] = {"data_dir": data_dir, "secret_key": "test-secret-" + "x" * 32}
    if backend == "s3":
        s3: S3Server = request.getfixturevalue("s3_server")
        fields.update(
            media_backend="s3",
            s3_endpoint_url=s3.endpoint_url,
            s3_bucket=s3.new_bucket(),
            s3_access_key_id=ACCESS_KEY,
            s3_secret_access_key=SECRET_KEY,
            s3_region=REGION,
        )
    return Settings(**{**fields, **overrides})


def store_of(settings: Settings) -> MediaStore:
    settings.ensure_dirs()
    return media_store(settings)
