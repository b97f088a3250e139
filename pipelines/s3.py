"""S3 as a source: the client, listing, downloads with retries, and AWS errors in our words.

Settings are AWS's own, read by boto3 as every AWS tool reads them: a profile
(``AWS_PROFILE`` or ``--profile``), the region (``AWS_REGION``), an endpoint
(``AWS_ENDPOINT_URL``, e.g. a local S3-compatible store), credentials from the usual chain,
and optionally a role to assume (``--role-arn``, through STS ``AssumeRole``).

Errors a retry can fix are retried with backoff: for API calls by botocore's own retry
handler (``standard`` mode: throttling such as ``SlowDown``, 5xx, dropped connections; its
attempts come from ``AWS_MAX_ATTEMPTS``, default 5), and for the bytes of a download, which
botocore does not retry once the response has begun, by tenacity around the whole object.
Everything else (``AccessDenied``, ``NoSuchBucket``, ``NoSuchKey``, ...) fails at once with a
``SourceError`` naming the bucket or key and AWS's error code.

How a prefix becomes a source (``Mirror``): the objects under it are listed once; manifests
(small JSON) are downloaded, and each data file gets a sparse placeholder of its size, so the
one detection code in ``pipelines.sources`` serves S3 and local folders alike. A billing
period's files are downloaded only when that period is read (an unchanged period never is),
each checked against the ETag it was listed with, and removed when the period is done.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import boto3
import botocore.exceptions
from botocore.config import Config
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from pipelines.errors import ConfigError, FinopsError, IngestFailed, InputError, SourceError

log = logging.getLogger(__name__)

#: Attempts for one object's bytes when the connection drops mid-body (tenacity), and the
#: first and largest wait between them in seconds.
STREAM_ATTEMPTS = 5
STREAM_WAIT = (0.5, 20.0)
CHUNK = 1 << 20

# The modules that log source paths while a mirrored source is read.
_LOGGING_MODULES = ("sources", "ingest", "focus", "conform", "readers")
_URL = re.compile(r"^s3://([^/]+)/?(.*)$")
# Codes that a retry can fix, on top of any 5xx: botocore's standard mode retries these too.
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
}
_STREAM_ERRORS = (
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.IncompleteReadError,
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class S3Settings:
    """Where and as whom to reach S3; None leaves the standard AWS setting in force."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    role_arn: str | None = None
    role_session_name: str = "finops-ingest"


@dataclass(frozen=True)
class S3Object:
    """One listed object: its key, size and ETag (the fingerprint of its bytes)."""

    bucket: str
    key: str
    size: int
    etag: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix without a leading slash)."""
    match = _URL.match(url)
    if not match or not match.group(1):
        raise ConfigError(f"{url}: not an S3 location (expected s3://bucket/prefix)")
    return match.group(1), match.group(2)


def client(settings: S3Settings | None = None):  # noqa: ANN201 - boto3's client type is dynamic
    """An S3 client honouring the standard AWS settings, a role to assume, and our retries."""
    settings = settings or S3Settings()
    try:
        session = boto3.Session(profile_name=settings.profile, region_name=settings.region)
        if settings.role_arn:
            session = _assumed(session, settings)
        return session.client("s3", endpoint_url=settings.endpoint_url, config=_config())
    except botocore.exceptions.ProfileNotFound as error:
        raise ConfigError(f"AWS profile not found: {error.kwargs.get('profile')}") from None
    except botocore.exceptions.BotoCoreError as error:
        raise ConfigError(f"cannot set up the S3 client ({error})") from None


def _config() -> Config:
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or 5)
    mode = os.environ.get("AWS_RETRY_MODE") or "standard"
    return Config(
        retries={"mode": mode, "total_max_attempts": attempts},
        connect_timeout=10,
        read_timeout=60,
    )


def _assumed(session: boto3.Session, settings: S3Settings) -> boto3.Session:
    sts = session.client("sts", endpoint_url=settings.endpoint_url, config=_config())
    try:
        credentials = sts.assume_role(
            RoleArn=settings.role_arn, RoleSessionName=settings.role_session_name
        )["Credentials"]
    except botocore.exceptions.ClientError as error:
        raise _translated(error, str(settings.role_arn), "AssumeRole") from None
    except botocore.exceptions.NoCredentialsError:
        raise ConfigError(
            f"no AWS credentials to assume {settings.role_arn} with "
            "(set AWS_PROFILE, --profile or AWS_ACCESS_KEY_ID)"
        ) from None
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=session.region_name,
    )


def list_objects(s3, bucket: str, prefix: str, *, delimiter: str | None = None) -> list[S3Object]:
    """Every object under ``prefix`` (paginated); with a delimiter, only its direct children."""
    url = f"s3://{bucket}/{prefix}"
    arguments = {"Bucket": bucket, "Prefix": prefix}
    if delimiter:
        arguments["Delimiter"] = delimiter
    objects: list[S3Object] = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(**arguments):
            for item in page.get("Contents", []):
                objects.append(
                    S3Object(bucket, item["Key"], int(item["Size"]), item["ETag"].strip('"'))
                )
    except botocore.exceptions.ClientError as error:
        raise _translated(error, url, "ListObjectsV2") from None
    except botocore.exceptions.NoCredentialsError:
        raise ConfigError(
            f"{url}: no AWS credentials (set AWS_PROFILE, --profile or AWS_ACCESS_KEY_ID)"
        ) from None
    except _STREAM_ERRORS as error:
        raise SourceError(url, "ListObjectsV2", type(error).__name__, str(error)) from None
    return objects


def get_bytes(s3, obj: S3Object) -> bytes:
    """A small object (a manifest) whole."""
    with _retrying(obj) as attempts:
        for attempt in attempts:
            with attempt:
                return _get(s3, obj).read()
    raise AssertionError("unreachable: tenacity re-raises the last error")


# NOTE: a period's files are downloaded whole to the warehouse's disk before they are read,
# because the readers seek (the CSV header is read twice; zip needs its central directory).
# Streaming straight from S3 would spare that disk space (one period's files at a time).
def download(s3, obj: S3Object, destination: Path) -> None:
    """Stream one object to ``destination``, retrying the whole object on a dropped connection.

    The request asks for the ETag the object was listed with: if AWS rewrites the file in
    the meantime (an overwrite-mode re-delivery), the read fails instead of mixing versions.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    with _retrying(obj) as attempts:
        for attempt in attempts:
            with attempt:
                body = _get(s3, obj)
                with open(destination, "wb") as out:
                    shutil.copyfileobj(body, out, CHUNK)
                if destination.stat().st_size != obj.size:
                    raise botocore.exceptions.IncompleteReadError(
                        actual_bytes=destination.stat().st_size, expected_bytes=obj.size
                    )


def _get(s3, obj: S3Object):  # noqa: ANN202 - botocore's StreamingBody
    try:
        return s3.get_object(Bucket=obj.bucket, Key=obj.key, IfMatch=f'"{obj.etag}"')["Body"]
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("PreconditionFailed", "412"):
            raise SourceError(
                obj.url,
                "GetObject",
                "PreconditionFailed",
                "the object changed while it was being read (a re-delivery in progress?); "
                "run again",
            ) from None
        raise _translated(error, obj.url, "GetObject") from None


@contextmanager
def _retrying(obj: S3Object) -> Iterator[Retrying]:
    """Tenacity around one object's bytes: only stream errors, which botocore leaves to us."""

    def note(state) -> None:  # noqa: ANN001 - tenacity's RetryCallState
        log.warning(
            "%s: %s while reading; retry %d of %d",
            obj.url,
            type(state.outcome.exception()).__name__,
            state.attempt_number,
            STREAM_ATTEMPTS - 1,
        )

    attempts = Retrying(
        retry=retry_if_exception(lambda error: isinstance(error, _STREAM_ERRORS)),
        stop=stop_after_attempt(STREAM_ATTEMPTS),
        wait=wait_exponential_jitter(multiplier=STREAM_WAIT[0], max=STREAM_WAIT[1]),
        before_sleep=note,
        reraise=True,
    )
    try:
        yield attempts
    except _STREAM_ERRORS as error:
        raise SourceError(
            obj.url,
            "GetObject",
            type(error).__name__,
            str(error),
            retryable=True,
            attempts=STREAM_ATTEMPTS,
        ) from None


def _translated(error: botocore.exceptions.ClientError, url: str, operation: str) -> SourceError:
    """AWS's error as ours: the code verbatim, whether a retry could fix it, attempts made."""
    details = error.response.get("Error", {})
    metadata = error.response.get("ResponseMetadata", {})
    code = str(details.get("Code") or metadata.get("HTTPStatusCode") or "Unknown")
    status = int(metadata.get("HTTPStatusCode") or 0)
    retryable = code in _TRANSIENT_CODES or status >= 500 or status == 429
    return SourceError(
        url,
        operation,
        code,
        str(details.get("Message") or ""),
        retryable=retryable,
        attempts=int(metadata.get("RetryAttempts") or 0) + 1,
    )


@dataclass
class Mirror:
    """An S3 prefix laid out as a local folder of manifests and sparse placeholders.

    ``root`` stands for ``url``: ``root / "a/b"`` is ``url + "/a/b"``. Only the placeholders'
    sizes are real until ``fetched`` downloads a billing period's files.
    """

    url: str
    root: Path
    s3: object
    objects: dict[Path, S3Object] = field(default_factory=dict)
    downloaded: set[Path] = field(default_factory=set)

    def local(self) -> Path:
        """The local stand-in for the source as the user named it (folder or one file)."""
        _, prefix = parse_url(self.url)
        below = prefix.strip("/")
        return self.root / below[len(self.base_key) :].lstrip("/") if below else self.root

    @property
    def base_key(self) -> str:
        """The folder the mirror's root stands for: three levels above the source, so that
        the manifests around it (``_nearby_objects``) fall inside."""
        _, prefix = parse_url(self.url)
        parts = PurePosixPath(prefix.strip("/")).parts if prefix.strip("/") else ()
        return "/".join(parts[: max(0, len(parts) - 3)])

    def url_of(self, path: Path) -> str:
        obj = self.objects.get(path)
        if obj is not None:
            return obj.url
        return self._base() + "/" + path.relative_to(self.root).as_posix()

    def _base(self) -> str:
        bucket, _ = parse_url(self.url)
        return f"s3://{bucket}" + (f"/{self.base_key}" if self.base_key else "")

    def etag(self, path: Path) -> str:
        obj = self.objects.get(path)
        return obj.etag if obj else ""

    @contextmanager
    def fetched(self, paths: list[Path]) -> Iterator[None]:
        """The files' bytes on the local disk while the block runs; errors named by URL."""
        try:
            with self.in_s3_terms():
                for path in paths:
                    self._fetch(path)
                yield
        finally:
            for path in paths:
                if path in self.objects and path.exists():
                    path.unlink()
                self.downloaded.discard(path)

    def fetch_all(self) -> None:
        with self.in_s3_terms():
            for path in list(self.objects):
                self._fetch(path)

    def _fetch(self, path: Path) -> None:
        if path in self.downloaded and path.exists():
            return
        download(self.s3, self.objects[path], path)
        self.downloaded.add(path)

    @contextmanager
    def in_s3_terms(self) -> Iterator[None]:
        """Errors raised and lines logged meanwhile name S3 URLs, not the mirror's paths."""
        local, remote = str(self.root), self._base()

        def renaming(record: logging.LogRecord) -> bool:
            message = record.getMessage()
            if local in message:
                record.msg, record.args = message.replace(local, remote), None
            return True

        loggers = [logging.getLogger(f"pipelines.{name}") for name in _LOGGING_MODULES]
        for logger in loggers:
            logger.addFilter(renaming)
        try:
            yield
        except FinopsError as error:
            raise self.renamed(error) from None
        finally:
            for logger in loggers:
                logger.removeFilter(renaming)

    def renamed(self, error: FinopsError) -> FinopsError:
        local, remote = str(self.root), self._base()
        if isinstance(error, IngestFailed):
            return IngestFailed([self.renamed(failure) for failure in error.failures])
        if isinstance(error, InputError):
            return InputError(
                error.path.replace(local, remote),
                error.problem.replace(local, remote),
                row=error.row,
                column=error.column,
                expected=error.expected,
            )
        if isinstance(error, SourceError):
            return error
        text = str(error)
        if local not in text:
            return error
        try:
            return type(error)(text.replace(local, remote))  # the same kind, for the caller
        except TypeError:
            return FinopsError(text.replace(local, remote))


def mirror(url: str, root: Path, settings: S3Settings | None = None) -> Mirror:
    """List the source at ``url`` into a local mirror under ``root`` (see ``Mirror``).

    Besides the objects under the prefix, the manifests of the folders above it are mirrored
    too (the period folder's manifest for an assembly folder or one of its files; a Data
    Export's metadata for one data folder), so that detection can tell a current delivery
    from a superseded one exactly as it does for a local folder.
    """
    bucket, prefix = parse_url(url)
    s3 = client(settings)
    found = Mirror(url, root, s3)
    below = prefix.rstrip("/")
    objects = list_objects(s3, bucket, below + "/" if below else "")
    exact = []
    if below and not objects:  # one object named by its key
        listed = list_objects(s3, bucket, below, delimiter="/")
        exact = [obj for obj in listed if obj.key == below]
    if not objects and not exact:
        raise ConfigError(f"{url}: no objects under this prefix")

    manifests, twins = _nearby_objects(s3, bucket, below)
    base_key = found.base_key
    for obj in {o.key: o for o in [*manifests, *twins, *objects, *exact]}.values():
        if obj.key.endswith("/"):
            continue  # a console-made "folder" marker
        relative = obj.key[len(base_key) :].lstrip("/") if base_key else obj.key
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if obj.key.endswith(".json"):
            path.write_bytes(get_bytes(s3, obj))  # manifests: small, and read to detect
            continue
        with open(path, "wb") as placeholder:
            placeholder.truncate(obj.size)
        found.objects[path] = obj
    log.info("%s: listed %d object(s)", url, len(found.objects))
    return found


def _nearby_objects(s3, bucket: str, prefix: str) -> tuple[list[S3Object], list[S3Object]]:
    """Manifests beside and above the prefix, and a Data Export period's twin folder."""
    parts = PurePosixPath(prefix).parts if prefix else ()
    manifests: list[S3Object] = []
    for up in range(1, min(len(parts), 3) + 1):
        folder = "/".join(parts[:-up])
        listed = list_objects(s3, bucket, folder + "/" if folder else "", delimiter="/")
        manifests += [obj for obj in listed if obj.key.endswith("-Manifest.json")]
    # A Data Export's data/BILLING_PERIOD=... folder and its metadata/... twin (either way).
    twins: list[S3Object] = []
    for index, part in enumerate(parts[:-1]):
        if part in ("data", "metadata") and parts[index + 1].startswith("BILLING_PERIOD="):
            twin = "metadata" if part == "data" else "data"
            folder = "/".join([*parts[:index], twin, parts[index + 1]])
            twins += list_objects(s3, bucket, folder + "/")
    return manifests, twins


def fingerprint(mirror_: Mirror, assembly_id: str | None, paths: list[Path]) -> str:
    """Same assembly and same ETags: the same delivery, whatever the mirror's paths."""
    parts = [assembly_id or ""] + [f"{mirror_.url_of(p)}:{mirror_.etag(p)}" for p in paths]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
