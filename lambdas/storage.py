"""Reading and writing small text objects at a local path or an ``s3://bucket/key`` URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.exceptions

from lambdas.errors import ConfigError

PERMISSIONS = {"s3:GetObject", "s3:PutObject"}


def split_url(url: str) -> tuple[str, str]:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise ConfigError(f"{url}: not an S3 location (expected s3://bucket/key)")
    return bucket, key


def read_text(location: str, s3_client: Any = None) -> str:
    """The text at a path or S3 URL; a missing object or denied access names the URL and code."""
    if not location.startswith("s3://"):
        if Path(location).is_dir():
            raise ConfigError(f"{location}: is a folder (expected a file)")
        try:
            return Path(location).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(f"{location}: cannot read ({error.strerror})") from None
    bucket, key = split_url(location)
    client = s3_client if s3_client is not None else _s3()
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "Unknown")
        raise ConfigError(f"{location}: GetObject failed with {code}") from None


def write_text(location: str, name: str, text: str, s3_client: Any = None) -> str:
    """Write ``text`` as ``name`` under a folder or S3 prefix; returns where it went."""
    if not location.startswith("s3://"):
        folder = Path(location)
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(target)
        return str(target)
    bucket, prefix = split_url(location)
    key = f"{prefix.strip('/')}/{name}".lstrip("/")
    client = s3_client if s3_client is not None else _s3()
    client.put_object(
        Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType="application/x-ndjson"
    )
    return f"s3://{bucket}/{key}"


def _s3() -> Any:
    from lambdas.aws import home_client

    return home_client("s3")
