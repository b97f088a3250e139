"""The errors the Lambdas raise on purpose.

They do not derive from ``pipelines.errors`` because the Lambda package ships ``lambdas/``
alone; the ``finops act`` command turns them into one line and exit code 1 all the same.
"""

from __future__ import annotations


class ActError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(ActError):
    """A configuration file, value or action plan that cannot be used; names where and what."""


class RunFailed(ActError):
    """The run finished, but at least one resource failed or the blast radius stopped it.

    Raised by the handlers after the audit log is written, so the Lambda's Errors metric
    and any alarm on it see the failure.
    """

    def __init__(self, function: str, run_id: str, problems: list[str]) -> None:
        self.function = function
        self.run_id = run_id
        self.problems = problems
        listed = "; ".join(problems[:5]) + (
            f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        super().__init__(f"{function} run {run_id} failed: {listed}")
