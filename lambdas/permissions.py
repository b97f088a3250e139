"""The IAM actions each function needs, gathered from the modules that make the calls.

Each action module declares ``PERMISSIONS`` next to its code; this module only adds them up.
``tests/lambdas/test_template.py`` checks that each function's role in ``template.yaml``
allows exactly these actions (no more, no fewer, and never ``*``).
"""

from __future__ import annotations

from lambdas import aws, cleanup, plan, scheduler, storage

# Every function reads its configuration and writes its audit log (S3), and may assume roles.
COMMON = frozenset(storage.PERMISSIONS | aws.PERMISSIONS)

FUNCTION_PERMISSIONS: dict[str, frozenset[str]] = {
    "scheduler": frozenset(scheduler.PERMISSIONS) | COMMON,
    "cleanup": frozenset(cleanup.PERMISSIONS | cleanup.NOTIFY_PERMISSIONS) | COMMON,
    "plan": frozenset(plan.PERMISSIONS) | COMMON,
}

if __name__ == "__main__":  # python -m lambdas.permissions: the lists, for a role elsewhere
    for function, actions in FUNCTION_PERMISSIONS.items():
        print(f"{function}:")
        for action in sorted(actions):
            print(f"  - {action}")
