"""Fixtures for S3 sources: a fresh bucket on the moto server, uploads, and fault injection."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote

import boto3
import botocore.retries.standard
import pytest

from pipelines import s3 as s3_module


@pytest.fixture
def s3(aws_env: str):
    """A plain client on the moto server (through AWS_ENDPOINT_URL), for setting up buckets."""
    return boto3.client("s3")


@pytest.fixture
def bucket(s3) -> str:
    name = f"cur-{secrets.token_hex(6)}"
    s3.create_bucket(Bucket=name)
    return name


def upload(s3, folder: Path, bucket: str, prefix: str) -> list[str]:
    """Every file under ``folder`` to ``s3://bucket/prefix/<relative path>``; returns the keys."""
    keys = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            key = f"{prefix.strip('/')}/{path.relative_to(folder).as_posix()}".lstrip("/")
            s3.upload_file(str(path), bucket, key)
            keys.append(key)
    return keys


class Faults:
    """Counts the S3 requests of ingest's own client and answers some of them with errors.

    ``fail(operation, status, code, times)`` answers the next ``times`` requests of the
    operation (e.g. ``GetObject``) with that HTTP status and AWS error code, before they
    reach the server: botocore sees exactly what S3 would have said.
    ``drop_body(key, times)`` lets the response begin and then breaks the connection
    mid-body, like a dropped connection during a download.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []  # (operation, key or bucket) per HTTP attempt
        self._failures: dict[str, list[tuple[int, str]]] = {}
        self._drops: dict[str, int] = {}

    def fail(self, operation: str, status: int, code: str, times: int = 1) -> None:
        self._failures.setdefault(operation, []).extend([(status, code)] * times)

    def fail_key(self, key: str, status: int, code: str, times: int = 1) -> None:
        """Like ``fail``, for the GetObject requests of one key only."""
        self._failures.setdefault(f"GetObject:{key}", []).extend([(status, code)] * times)

    def drop_body(self, key: str, times: int = 1) -> None:
        self._drops[key] = times

    def count(self, operation: str, key: str | None = None) -> int:
        return sum(1 for op, k in self.calls if op == operation and (key is None or k == key))

    def attach(self, client) -> None:  # noqa: ANN001 - a boto3 S3 client
        client.meta.events.register("before-send.s3.*", self._before_send)
        client.meta.events.register("after-call.s3.GetObject", self._after_get)

    def _before_send(self, request, **kwargs):  # noqa: ANN001, ANN003, ANN202
        operation = kwargs["event_name"].rsplit(".", 1)[-1]
        key = _key(request.url) if operation == "GetObject" else ""
        self.calls.append((operation, key))
        pending = self._failures.get(f"{operation}:{key}") or self._failures.get(operation)
        if pending:
            from botocore.awsrequest import AWSResponse

            status, code = pending.pop(0)
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                f"<Message>injected {code}</Message></Error>"
            ).encode()
            return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))
        return None

    def _after_get(self, http_response, parsed, model, **kwargs):  # noqa: ANN001, ANN003, ANN202
        key = _key(http_response.url)
        if self._drops.get(key, 0) > 0:
            self._drops[key] -= 1
            parsed["Body"] = _Dropping(parsed["Body"])


def _key(url: str) -> str:
    """The key of a path-style URL (http://host:port/bucket/key), decoded."""
    return unquote(url.split("?", 1)[0].split("/", 4)[-1])


class _Raw:
    """The raw stream botocore reads an injected response's body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_kwargs) -> Iterator[bytes]:  # noqa: ANN003
        yield self._body


class _Dropping:
    """A response body whose connection drops after the first chunk."""

    def __init__(self, body) -> None:  # noqa: ANN001
        self._body = body
        self._reads = 0

    def read(self, size: int = -1) -> bytes:
        import botocore.exceptions

        self._reads += 1
        if self._reads > 1 or size is None or size < 0:
            self._body.close()
            raise botocore.exceptions.ResponseStreamingError(error="Connection broken: injected")
        return self._body.read(min(size, 1024) if size and size > 0 else 1024)


@pytest.fixture(scope="session")
def cur2_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sample_data.generate import generate

    root = tmp_path_factory.mktemp("cur2-s3")
    generate(root, rows=4_000, months=2, seed=11, layout="cur2")
    return root / "cur"


@pytest.fixture
def cur2_export(tmp_path: Path, cur2_generated: Path) -> Path:
    """A private copy of a generated CUR 2.0 export, for tests that change it."""
    copy = tmp_path / "cur2"
    shutil.copytree(cur2_generated, copy)
    return copy


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    """Fault injection into every client ingest makes; retries without waiting."""
    injected = Faults()
    original: Callable = s3_module.client

    def client(settings=None):  # noqa: ANN001, ANN202
        made = original(settings)
        injected.attach(made)
        return made

    monkeypatch.setattr(s3_module, "client", client)
    # Backoff is botocore's and tenacity's business; the tests count attempts, not seconds.
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0
    )
    monkeypatch.setattr(s3_module, "STREAM_WAIT", (0, 0))
    return injected
