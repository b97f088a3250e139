"""One small tree of errors that the CLI turns into a one-line message and a non-zero exit.

Errors a user can fix (bad input, bad configuration) say what was wrong, where (file, row,
column) and what was expected. Errors a retry may fix are marked ``retryable``.
"""

from __future__ import annotations


class FinopsError(Exception):
    """Base of every error this package raises on purpose."""

    retryable = False


class InputError(FinopsError):
    """A source file that cannot be read as a CUR export.

    Args:
        path: the file at fault, as the user named it (local path or s3:// URL).
        problem: what was wrong, in words.
        row: 1-based data row (the header is not counted), when one row is at fault.
        column: the column at fault, as the source names it.
        expected: what would have been valid.
    """

    def __init__(
        self,
        path: str,
        problem: str,
        *,
        row: int | None = None,
        column: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.path = path
        self.problem = problem
        self.row = row
        self.column = column
        self.expected = expected
        super().__init__(self._message())

    def _message(self) -> str:
        where = [self.path]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        message = f"{': '.join([', '.join(where), self.problem])}"
        if self.expected:
            message += f" (expected {self.expected})"
        return message


class ConfigError(FinopsError):
    """A configuration file or option that cannot be used."""


class WarehouseError(FinopsError):
    """The warehouse folder is missing, unreadable or not a finops warehouse."""


class ModelError(FinopsError):
    """A SQL model that fails to build; names the model file."""

    def __init__(self, model_path: str, problem: str) -> None:
        self.model_path = model_path
        self.problem = problem
        super().__init__(f"{model_path}: {problem}")


class SourceError(FinopsError):
    """A source location (an S3 bucket or object) that could not be listed or read.

    Args:
        url: the bucket or object, as ``s3://bucket/key``.
        operation: the AWS operation that failed (``ListObjectsV2``, ``GetObject``).
        code: AWS's error code (``AccessDenied``, ``NoSuchBucket``, ``SlowDown``, ...).
        problem: AWS's message or what went wrong, in words.
        retryable: a retry may fix it (throttling, 5xx, a dropped connection); when raised,
            the retries were already spent.
        attempts: how many times the request was made.
    """

    def __init__(
        self,
        url: str,
        operation: str,
        code: str,
        problem: str,
        *,
        retryable: bool = False,
        attempts: int = 1,
    ) -> None:
        self.url = url
        self.operation = operation
        self.code = code
        self.problem = problem
        self.retryable = retryable
        self.attempts = attempts
        message = f"{url}: {operation} failed with {code}"
        if problem:
            message += f" ({problem})"
        if attempts > 1:
            message += f" after {attempts} attempts"
        super().__init__(message)


class QueryError(FinopsError):
    """An analyst's query (``finops sql``) that does not parse, names an unknown view, or fails."""


class IngestFailed(FinopsError):
    """One or more source files were bad; nothing was committed to the warehouse."""

    def __init__(self, failures: list[FinopsError]) -> None:
        self.failures = failures
        lines = [str(failure) for failure in failures]
        super().__init__("\n".join(lines))


class NotifyError(FinopsError):
    """An anomaly alert that a channel (SNS or webhook) did not take; the other got theirs.

    What each channel delivered is recorded, so a retry sends only what a channel is missing.
    """

    retryable = True
