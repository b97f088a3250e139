"""Every shipped SQL file says what it is, its grain and its inputs, and names no month."""

from __future__ import annotations

import re

import pytest

from pipelines.config import queries_folder
from pipelines.models import find_models

MODELS = find_models(queries_folder())


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.name)
def test_model_file_starts_with_its_header(model):
    header = []
    for line in model.sql.splitlines():
        if not line.startswith("--"):
            break
        header.append(line)
    text = "\n".join(header)
    assert header and header[0].startswith(f"-- {model.name}: "), "first line: '-- name: what'"
    assert "Grain:" in text
    assert "Inputs:" in text


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model.name)
def test_model_names_no_month(model):
    assert not re.search(r"\b(19|20)\d\d-\d\d\b", model.sql)


def test_checks_and_layers_are_found():
    names = {(model.name, model.is_check) for model in MODELS}
    assert {
        ("stg_line_items", False),
        ("daily_cost", False),
        ("showback_monthly", False),
        ("tag_coverage", False),
        ("reconciliation", True),
        ("showback_reconciles", True),
    } <= names
