"""How the command logs: readable lines for people, or one JSON object a line for machines.

``--log-format json`` (or ``FINOPS_LOG_FORMAT=json``) is for schedulers and log collectors
(cron, ECS, Lambda, CloudWatch): every log record goes to stderr as one JSON object with
``time``, ``level``, ``logger`` and ``message``, and no progress bar is drawn. With ``text``
(the default) a person at a terminal gets a progress bar of files and bytes as well.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("text", "json")

_chosen = {"format": "text"}


def configure(log_format: str, verbose: bool = False) -> None:
    """Send the package's log records to stderr in ``log_format`` (text or json).

    Raises:
        ValueError: an unknown format.
    """
    if log_format not in FORMATS:
        raise ValueError(f"{log_format!r}: expected one of {', '.join(FORMATS)}")
    _chosen["format"] = log_format
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    # botocore's own retry notes are DEBUG; its INFO about credentials is noise in a log.
    logging.getLogger("botocore").setLevel(logging.WARNING)


def progress_wanted(stderr_is_terminal: bool) -> bool:
    """A progress bar only for a person: text logs and a terminal on stderr."""
    return _chosen["format"] == "text" and stderr_is_terminal


def json_lines() -> bool:
    """Whether the command logs JSON lines (its final error is then one too)."""
    return _chosen["format"] == "json"
