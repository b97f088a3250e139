"""build(): finding and ordering the models, the analyst file, errors and the atomic swap."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.config import CONFIGURED_SEEDS, Config, queries_folder
from pipelines.contract import LINE_ITEMS_SCHEMA
from pipelines.errors import ModelError, WarehouseError
from pipelines.models import DATABASE_FILE, build, find_models, order_models
from pipelines.query import run_query

# In build order: staging, then the models that read it by name, then what reads those.
SHIPPED_MODELS = (
    "rec_parameters",
    "stg_line_items",
    "carbon_line_items",
    "commitment_coverage_daily",
    "commitment_savings_monthly",
    "commitment_utilization_daily",
    "commitments_expiring",
    "daily_cost",
    "focus",
    "instance_architecture_monthly",
    "invoice_reconciliation",
    "realized_savings",
    "rec_commitment",
    "rec_gp3",
    "showback_attribution",
    "tag_coverage",
    "carbon_monthly",
    "monthly_cost",
    "rec_idle",
    "rec_instances",
    "showback_monthly",
    "carbon_showback_monthly",
    "rec_graviton",
    "rec_previous_generation",
    "rec_schedule",
    "rec_spot",
    "recommendations",
)
#: Reference seeds of the recommendation and carbon models (queries/seeds/*.csv).
SHIPPED_SEEDS = {
    "carbon_coefficients",
    "carbon_family_watts",
    "carbon_parameters",
    "carbon_region_factors",
    "ec2_ondemand_prices",
    "environment_classes",
    "graviton_equivalents",
    "recommendation_parameters",
    "savings_assumptions",
    "schedule_team_offsets",
    "spot_discount_reference",
}


def write_period(warehouse: Path, period: str, rows: list[dict]) -> None:
    """A Parquet file in the warehouse layout; columns the rows leave out are NULL."""
    columns = {name: [row.get(name) for row in rows] for name in LINE_ITEMS_SCHEMA.names}
    folder = warehouse / "line_items" / f"billing_period={period}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pydict(columns, schema=LINE_ITEMS_SCHEMA), folder / "part.parquet")


def usage(cost: float, **columns) -> dict:
    return {
        "line_item_line_item_type": "Usage",
        "line_item_usage_start_date": datetime(2024, 3, 1, 12),
        "line_item_unblended_cost": cost,
        **columns,
    }


def model_folder(tmp_path: Path, files: dict[str, str]) -> Path:
    """A queries folder holding just these files (relative path -> SQL)."""
    queries = tmp_path / "queries"
    for name, sql in files.items():
        (queries / name).parent.mkdir(parents=True, exist_ok=True)
        (queries / name).write_text(sql)
    return queries


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    return folder


def test_empty_warehouse_builds_empty_models(warehouse: Path):
    result = build(warehouse)

    assert result.database == warehouse / DATABASE_FILE
    assert result.models == SHIPPED_MODELS
    assert result.row_counts == dict.fromkeys(SHIPPED_MODELS, 0)
    assert result.has_line_items is False
    assert result.ok
    with duckdb.connect(str(result.database), read_only=True) as connection:
        columns = [row[0] for row in connection.execute("DESCRIBE line_items").fetchall()]
    assert columns == [*LINE_ITEMS_SCHEMA.names, "billing_period"]


def test_empty_line_items_view_has_the_types_of_a_real_partition(warehouse: Path, tmp_path: Path):
    empty = build(warehouse).database
    other = tmp_path / "other"
    write_period(other, "2024-03", [usage(1.0)])
    real = build(other).database

    def types(database: Path) -> list[tuple[str, str]]:
        with duckdb.connect(str(database), read_only=True) as connection:
            return [row[:2] for row in connection.execute("DESCRIBE stg_line_items").fetchall()]

    assert types(empty) == types(real)


def test_models_are_views_an_analyst_sees_in_one_file(warehouse: Path):
    write_period(warehouse, "2024-03", [usage(1.5), usage(2.5)])
    result = build(warehouse)

    assert result.row_counts["stg_line_items"] == 2
    with duckdb.connect(str(result.database), read_only=True) as connection:
        views = {
            row[0]
            for row in connection.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
        tables = {
            row[0]
            for row in connection.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        (total,) = connection.execute("SELECT sum(amortized_cost) FROM daily_cost").fetchone()
    # anomalies and anomaly_days: `finops anomalies` results (pipelines/anomalies.py), empty here.
    assert views == {
        "line_items",
        "run_log",
        "run_log_invoices",
        "action_log",
        *SHIPPED_MODELS,
        "anomalies",
        "anomaly_days",
    }
    assert tables == {*CONFIGURED_SEEDS, "focus_service_categories", *SHIPPED_SEEDS}
    assert total == 4.0


def test_line_items_view_reads_partitions_added_after_the_build(warehouse: Path):
    write_period(warehouse, "2024-03", [usage(1.0)])
    database = build(warehouse).database
    write_period(warehouse, "2024-04", [usage(2.0)])

    with duckdb.connect(str(database), read_only=True) as connection:
        periods = connection.execute(
            "SELECT billing_period, sum(unblended_cost) FROM stg_line_items GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert periods == [("2024-03", 1.0), ("2024-04", 2.0)]


def test_seed_tables_hold_the_configured_aliases(warehouse: Path):
    result = build(warehouse, Config())
    with duckdb.connect(str(result.database), read_only=True) as connection:
        keys = connection.execute(
            "SELECT dimension, alias, priority FROM tag_key_aliases ORDER BY dimension, priority"
        ).fetchall()
        values = connection.execute(
            "SELECT value, canonical FROM tag_value_aliases WHERE dimension = 'env' ORDER BY 1"
        ).fetchall()
    assert keys == [
        ("env", "env", 1),
        ("env", "environment", 2),
        ("env", "stage", 3),
        ("team", "team", 1),
        ("team", "ownerteam", 2),
        ("team", "owner", 3),
    ]
    assert values == [
        ("development", "dev"),
        ("prd", "prod"),
        ("production", "prod"),
        ("stg", "staging"),
    ]


def test_other_seed_csv_files_become_tables(warehouse: Path, tmp_path: Path):
    queries = model_folder(
        tmp_path,
        {
            "seeds/region_names.csv": "region,name\nus-east-1,N. Virginia\n",
            "marts/named.sql": "-- named: test\nSELECT * FROM region_names",
        },
    )
    result = build(warehouse, queries=queries)
    assert result.row_counts == {"named": 1}
    assert set(result.seeds) == {"region_names", *CONFIGURED_SEEDS}


def test_seed_csv_under_a_folder_with_glob_characters_reads_only_itself(
    warehouse: Path, tmp_path: Path
):
    files = {
        "seeds/region_names.csv": "region,name\nus-east-1,N. Virginia\n",
        "marts/named.sql": "-- named: test\nSELECT * FROM region_names",
    }
    queries = model_folder(tmp_path / "v*", files)
    model_folder(tmp_path / "vX", files)  # what an unescaped v* would read as well

    assert build(warehouse, queries=queries).row_counts == {"named": 1}


def test_missing_warehouse_is_a_warehouse_error(tmp_path: Path):
    with pytest.raises(WarehouseError, match="no such warehouse folder"):
        build(tmp_path / "nowhere")


def test_broken_model_names_the_file_and_keeps_the_previous_database(
    warehouse: Path, tmp_path: Path
):
    write_period(warehouse, "2024-03", [usage(1.0)])
    database = build(warehouse).database
    before = digest(database)
    queries = tmp_path / "queries"
    shutil.copytree(queries_folder(), queries)
    broken = queries / "marts" / "broken.sql"
    broken.write_text(
        "-- broken: reads a column that does not exist\nSELECT nope FROM daily_cost\n"
    )

    with pytest.raises(ModelError) as raised:
        build(warehouse, queries=queries)

    assert raised.value.model_path == str(broken)
    assert str(broken) in str(raised.value)
    assert "nope" in raised.value.problem
    assert digest(database) == before
    assert sorted(path.name for path in warehouse.iterdir()) == [DATABASE_FILE, "line_items"]


def test_model_failing_on_real_rows_fails_the_build(warehouse: Path, tmp_path: Path):
    write_period(warehouse, "2024-03", [usage(1.0, line_item_usage_type="BoxUsage:m5.large")])
    queries = model_folder(
        tmp_path,
        {"marts/bad_cast.sql": "SELECT CAST(line_item_usage_type AS INTEGER) FROM line_items"},
    )

    with pytest.raises(ModelError, match="bad_cast.sql: .*BoxUsage:m5.large"):
        build(warehouse, queries=queries)
    assert not (warehouse / DATABASE_FILE).exists()


def test_build_order_follows_the_tables_each_model_reads(tmp_path: Path):
    queries = model_folder(
        tmp_path,
        {
            "marts/a_report.sql": "SELECT * FROM b_daily JOIN c_base USING (x)",
            "marts/b_daily.sql": "WITH c_base AS (SELECT 1 AS x) SELECT * FROM c_base",
            "staging/c_base.sql": "SELECT 1 AS x FROM line_items",
            "checks/totals.sql": "SELECT 'r' AS reason FROM a_report WHERE false",
        },
    )
    models, checks = order_models(find_models(queries), known=["line_items"])

    # b_daily's CTE is named c_base, but it is no dependency on the model c_base.
    assert [model.name for model in models] == ["b_daily", "c_base", "a_report"]
    assert [check.name for check in checks] == ["totals"]
    assert models[2].reads == {"b_daily", "c_base"}


def test_dependency_cycle_is_a_model_error_naming_the_files(tmp_path: Path):
    queries = model_folder(
        tmp_path,
        {
            "marts/a.sql": "SELECT * FROM b",
            "marts/b.sql": "SELECT * FROM c",
            "marts/c.sql": "SELECT * FROM a",
            "marts/d.sql": "SELECT * FROM line_items",
        },
    )
    with pytest.raises(ModelError, match="dependency cycle") as raised:
        order_models(find_models(queries), known=["line_items"])
    for name in ("a.sql", "b.sql", "c.sql"):
        assert name in str(raised.value)
    assert "d.sql" not in str(raised.value)


def test_unknown_table_is_a_model_error_with_a_suggestion(warehouse: Path, tmp_path: Path):
    queries = model_folder(tmp_path, {"marts/typo.sql": "SELECT * FROM line_item"})
    with pytest.raises(ModelError, match="reads 'line_item'.*did you mean 'line_items'") as raised:
        build(warehouse, queries=queries)
    assert raised.value.model_path == str(queries / "marts" / "typo.sql")


def test_file_that_is_not_one_query_is_a_model_error(tmp_path: Path):
    queries = model_folder(tmp_path, {"marts/two.sql": "SELECT 1; SELECT 2;"})
    with pytest.raises(ModelError, match="two.sql: expected exactly one query"):
        find_models(queries)


def test_check_without_reason_column_is_a_model_error(warehouse: Path, tmp_path: Path):
    queries = model_folder(tmp_path, {"checks/vague.sql": "SELECT 1 AS offending"})
    with pytest.raises(ModelError, match="vague.sql: a check must return a 'reason' column"):
        build(warehouse, queries=queries)


def test_progress_reports_each_model_and_check(warehouse: Path):
    seen = []
    build(warehouse, progress=lambda name, position, total: seen.append((name, position, total)))
    assert [name for name, _, _ in seen][: len(SHIPPED_MODELS)] == list(SHIPPED_MODELS)
    assert [position for _, position, _ in seen] == list(range(1, len(seen) + 1))
    assert {total for _, _, total in seen} == {len(seen)}


def test_rebuild_replaces_the_database(warehouse: Path):
    build(warehouse)
    write_period(warehouse, "2024-03", [usage(3.0)])
    result = build(warehouse)
    assert result.row_counts["stg_line_items"] == 1
    assert sorted(path.name for path in warehouse.iterdir()) == [DATABASE_FILE, "line_items"]


@pytest.mark.parametrize(
    ("folder", "decoy"),
    [("br[a]", "bra"), ("st*r", "stXr"), ("a]b", None), ("[!x]", "y")],
)
def test_warehouse_path_with_glob_characters_reads_only_its_own_line_items(
    tmp_path: Path, folder: str, decoy: str | None
):
    # Unescaped, br[a] would read the warehouse in bra, and st*r the one in stXr.
    warehouse = tmp_path / folder / "warehouse"
    write_period(warehouse, "2024-03", [usage(1.0)])
    if decoy is not None:
        write_period(tmp_path / decoy / "warehouse", "2024-03", [usage(100.0)])

    result = build(warehouse)

    with duckdb.connect(str(result.database), read_only=True) as connection:
        totals = connection.execute(
            "SELECT billing_period, sum(unblended_cost) FROM daily_cost GROUP BY 1"
        ).fetchall()
    assert totals == [("2024-03", 1.0)]
    # finops sql lets the views read their escaped glob and nothing else.
    queried = run_query(warehouse, "SELECT sum(unblended_cost) AS total FROM daily_cost")
    assert queried.to_pylist() == [{"total": 1.0}]


def test_warehouse_path_with_a_question_mark_is_refused_before_anything_is_written(
    tmp_path: Path,
):
    warehouse = tmp_path / "q?x" / "warehouse"
    write_period(warehouse, "2024-03", [usage(1.0)])

    with pytest.raises(WarehouseError) as raised:
        build(warehouse)

    assert str(raised.value) == (
        f"{warehouse.resolve()}: the warehouse path contains '?', which DuckDB cannot keep "
        "finops.duckdb under; use a folder without it"
    )
    assert sorted(path.name for path in warehouse.iterdir()) == ["line_items"]


def test_warehouse_under_a_key_value_folder_is_refused(tmp_path: Path):
    # DuckDB's hive partitioning would give every line item a column env = 'prod'.
    warehouse = tmp_path / "env=prod" / "warehouse"
    write_period(warehouse, "2024-03", [usage(1.0)])

    with pytest.raises(WarehouseError, match="'env=prod' looks like a hive partition"):
        build(warehouse)


def test_database_that_is_not_duckdb_is_a_warehouse_error_and_left_alone(warehouse: Path):
    write_period(warehouse, "2024-03", [usage(1.0)])
    database = warehouse / DATABASE_FILE
    database.write_bytes(b"not a database\n" * 100)
    before = digest(database)

    with pytest.raises(WarehouseError) as raised:
        build(warehouse)

    message = str(raised.value)
    assert message.startswith(f"{database}: cannot be replaced (")
    assert "not a valid DuckDB database file" in message
    assert message.endswith(
        "close any DuckDB session that holds it open read-write, or move the file away if "
        "`finops build` did not write it, then build again"
    )
    assert digest(database) == before
    assert sorted(path.name for path in warehouse.iterdir()) == [DATABASE_FILE, "line_items"]


def test_database_open_read_write_in_another_process_is_a_warehouse_error(warehouse: Path):
    write_period(warehouse, "2024-03", [usage(1.0)])
    database = build(warehouse).database
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, duckdb; connection = duckdb.connect(sys.argv[1]); print('open', "
            "flush=True); sys.stdin.read()",
            str(database),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        with pytest.raises(WarehouseError, match="Conflicting lock") as raised:
            build(warehouse)
    finally:
        holder.communicate(timeout=30)

    assert str(raised.value).startswith(f"{database}: cannot be replaced (")
    assert "close any DuckDB session that holds it open read-write" in str(raised.value)
    assert build(warehouse).database == database
