"""The SAM template: cfn-lint clean, and each role allows exactly what its modules declare."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lambdas.permissions import FUNCTION_PERMISSIONS

TEMPLATE = Path(__file__).resolve().parents[2] / "lambdas" / "template.yaml"
FUNCTIONS = {"scheduler": "Scheduler", "cleanup": "Cleanup", "plan": "Plan"}


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))


def statements(template: dict, role: str) -> list[dict]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    return [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]


def actions(statement: dict) -> set[str]:
    listed = statement["Action"]
    return {listed} if isinstance(listed, str) else set(listed)


def test_cfn_lint_passes_on_the_template():
    # cfn-lint's own command (its package has no __main__): the script beside this Python.
    command = [
        sys.executable,
        "-c",
        "import sys; from cfnlint.runner import main; sys.exit(main())",
    ]
    result = subprocess.run([*command, str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_role_allows_exactly_the_declared_actions(template: dict, function: str):
    role = f"{FUNCTIONS[function]}Role"
    allowed = set().union(
        *(actions(s) for s in statements(template, role) if s["Effect"] == "Allow")
    )

    assert allowed == FUNCTION_PERMISSIONS[function], (
        f"missing from the template: {sorted(FUNCTION_PERMISSIONS[function] - allowed)}; "
        f"not declared by the code: {sorted(allowed - FUNCTION_PERMISSIONS[function])}"
    )


def test_no_policy_uses_a_wildcard_action(template: dict):
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in statements(template, name):
            for action in actions(statement):
                assert "*" not in action, f"{name} {statement.get('Sid')}: {action}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_protected_resources_are_denied_in_iam_too(template: dict, function: str):
    denies = [
        s for s in statements(template, f"{FUNCTIONS[function]}Role") if s["Effect"] == "Deny"
    ]
    if function == "scheduler":
        expected = {"ec2:StopInstances", "ec2:StartInstances"}
    else:
        expected = {"ec2:DeleteVolume", "ec2:DeleteSnapshot", "ec2:ReleaseAddress"}
    (deny,) = denies
    assert expected <= actions(deny) <= FUNCTION_PERMISSIONS[function]
    assert deny["Condition"] == {"Null": {"aws:ResourceTag/finops:protect": "false"}}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_each_function_uses_its_own_role_and_an_existing_handler(template: dict, function: str):
    properties = template["Resources"][f"{FUNCTIONS[function]}Function"]["Properties"]
    assert properties["Role"] == {"Fn::GetAtt": f"{FUNCTIONS[function]}Role.Arn"}
    module, _, name = properties["Handler"].rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))
    (event,) = properties["Events"].values()
    assert event["Type"] == "Schedule"


def test_lambda_modules_import_no_analytics_stack():
    # The Lambda package is lambdas/ alone, on the runtime's boto3: no duckdb, pyarrow, pandas.
    code = "import sys, lambdas.handlers, lambdas.permissions; print(sorted(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = result.stdout
    for heavy in ("duckdb", "pyarrow", "pandas", "polars", "pipelines"):
        assert f"'{heavy}'" not in loaded, heavy


TARGET_ROLE = TEMPLATE.with_name("target-role.yaml")
HOME_ONLY = ("s3:", "sts:", "sns:")  # the audit bucket, STS and the topic stay in the home account


def test_target_role_allows_what_the_functions_do_to_resources():
    target = yaml.safe_load(TARGET_ROLE.read_text(encoding="utf-8"))
    command = [
        sys.executable,
        "-c",
        "import sys; from cfnlint.runner import main; sys.exit(main())",
    ]
    linted = subprocess.run([*command, str(TARGET_ROLE)], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr

    statements = target["Resources"]["TargetRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    allowed = set().union(*(actions(s) for s in statements if s["Effect"] == "Allow"))
    needed = {
        action
        for declared in FUNCTION_PERMISSIONS.values()
        for action in declared
        if not action.startswith(HOME_ONLY)
    }
    assert allowed == needed
    assert not any("*" in action for s in statements for action in actions(s))
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Null": {"aws:ResourceTag/finops:protect": "false"}}
    assert (
        target["Parameters"]["TargetRoleName"]["Default"]
        == yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))["Parameters"]["TargetRoleName"][
            "Default"
        ]
    )


def test_the_files_sam_packs_make_a_working_package(tmp_path):
    # What lambdas/Makefile copies (cp *.py action_plan.schema.json), with the packages it
    # installs (tzdata, jsonschema) taken from this environment.
    package = tmp_path / "lambdas"
    package.mkdir()
    for path in [*TEMPLATE.parent.glob("*.py"), TEMPLATE.with_name("action_plan.schema.json")]:
        (package / path.name).write_bytes(path.read_bytes())
    code = (
        "import os, lambdas, lambdas.handlers, lambdas.plan\n"
        "assert lambdas.__file__.startswith(os.environ['PYTHONPATH']), lambdas.__file__\n"
        "lambdas.plan.parse_plan({'schema_version': 1, 'generated_at': '2026-12-01T06:00:00Z',"
        " 'currency': 'USD',"
        " 'actions': []})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_the_package_installs_every_library_the_lambdas_import():
    # The Lambda runtime brings boto3 (and botocore) only: any other import must be installed
    # by lambdas/Makefile, or the function fails at its first cold start.
    runtime = {"boto3", "botocore", "lambdas", "__future__"}
    imported = set()
    for path in TEMPLATE.parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported - runtime if name not in sys.stdlib_module_names}
    makefile = TEMPLATE.with_name("Makefile").read_text(encoding="utf-8")

    assert third_party == {"jsonschema"}
    assert all(f'"{name}>=' in makefile for name in third_party)
