"""Register a warehouse in S3 in the Glue Data Catalog, so that Athena can run the models on it.

``finops register --warehouse s3://bucket/prefix --database DB`` makes, in the Glue database
``DB`` (created when missing):

- ``line_items``: an external Parquet table over ``s3://bucket/prefix/line_items/`` with the
  data contract's columns (``pipelines.contract``) and one partition key, ``billing_period``
  (string, ``YYYY-MM``), with one Glue partition per ``billing_period=YYYY-MM/`` folder found
  in S3; partitions whose folder is gone are removed;
- the seed tables (``queries/seeds/*.csv``, with ``tag_key_aliases`` and ``tag_value_aliases``
  taken from the configuration as the DuckDB build does), each written as one Parquet file
  under ``s3://bucket/prefix/_seeds/<name>/`` and registered as a table of that name.

Re-running is safe: tables are updated in place, partitions added or removed to match S3.

Example::

    result = register("s3://finops-lake/cur", "finops", load_config(None))
    print(result.partitions_added)

Notes:
    awswrangler (``wr.catalog.create_parquet_table``, ``add_parquet_partitions``) would make
    these calls for us, but its current release (3.17) requires ``pyarrow<26`` and cannot be
    installed beside our pyarrow 26 pin; the same Glue and S3 calls are made with boto3 here.
    Partitions are explicit, not projected: after an ingest adds a month in S3, register
    again (or run MSCK REPAIR TABLE). Partition projection would spare that but needs the
    range of months fixed in the table's properties.
    The warehouse must already be in S3 (``aws s3 sync warehouse/line_items
    s3://bucket/prefix/line_items``); register does not upload line items.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import BotoCoreError, ClientError

from pipelines.config import CONFIGURED_SEEDS, Config, queries_folder
from pipelines.contract import LINE_ITEMS_SCHEMA
from pipelines.errors import ConfigError, WarehouseError
from pipelines.models import ACTION_LOG, SOURCE, find_seeds

logger = logging.getLogger(__name__)

PARTITION_KEY = "billing_period"
SEEDS_PREFIX = "_seeds"

_PARQUET_STORAGE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}
_PERIOD_FOLDER = re.compile(r"^billing_period=(\d{4}-\d{2})/$")
_DATABASE_NAME = re.compile(r"^[a-z0-9_]{1,255}$")
_ARROW_TYPES = {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "DOUBLE": pa.float64()}
_CONFIGURED_SEED_SCHEMAS = {
    name: pa.schema([(column, _ARROW_TYPES[kind]) for column, kind in columns])
    for name, columns in CONFIGURED_SEEDS.items()
}


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (no leading or trailing slash; empty for the bucket's root)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """``s3://bucket/some/prefix`` -> S3Location("bucket", "some/prefix").

        Raises:
            ConfigError: not an ``s3://bucket[/prefix]`` URL.
        """
        match = re.match(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/.*)?$", url)
        if not match:
            raise ConfigError(f"{url!r} is not an S3 location (expected s3://bucket/prefix)")
        return cls(match.group(1), (match.group(2) or "").strip("/"))

    def key(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    def url(self, *parts: str) -> str:
        return f"s3://{self.bucket}/{self.key(*parts)}/"


@dataclass(frozen=True)
class RegisterResult:
    """What ``register`` made in the Glue catalog.

    Args:
        database: the Glue database.
        tables: the tables created or updated (line_items first, then the seeds).
        partitions: every billing period registered after the run.
        partitions_added: the billing periods added by this run.
        partitions_removed: the billing periods removed (their folder was gone from S3).
    """

    database: str
    tables: tuple[str, ...]
    partitions: tuple[str, ...]
    partitions_added: tuple[str, ...]
    partitions_removed: tuple[str, ...]


def register(
    warehouse: str,
    database: str,
    config: Config | None = None,
    *,
    queries: Path | None = None,
    glue: Any = None,
    s3: Any = None,
) -> RegisterResult:
    """Create or update the Glue tables for a warehouse in S3: line_items and the seeds.

    Args:
        warehouse: ``s3://bucket/prefix``, the folder that holds ``line_items/``.
        database: the Glue database (lower-case letters, digits and ``_``).
        config: the tag rules for the configured seeds; ``None`` uses the shipped defaults.
        queries: the folder of the seed CSV files; the installed ``queries`` by default.
        glue, s3: boto3 clients; made from the environment's AWS settings when not given.

    Raises:
        ConfigError: the warehouse is not an S3 URL, or the database name is not one Glue and
            Athena both accept.
        WarehouseError: S3 or Glue refused a call (the message names the call and AWS's error
            code), or the warehouse has no ``line_items/billing_period=YYYY-MM/`` folder.
    """
    location = S3Location.parse(warehouse)
    if not _DATABASE_NAME.match(database):
        raise ConfigError(
            f"{database!r} is not a Glue database name Athena can query "
            "(expected lower-case letters, digits and _)"
        )
    config = config if config is not None else Config()
    queries = queries if queries is not None else queries_folder()
    glue = glue if glue is not None else boto3.client("glue")
    s3 = s3 if s3 is not None else boto3.client("s3")

    with aws_errors(f"s3://{location.bucket}"):
        periods = sorted(_partition_folders(s3, location))
    if not periods:
        raise WarehouseError(
            f"{location.url(SOURCE)}: no billing_period=YYYY-MM/ folder; copy the warehouse's "
            "line_items there first (aws s3 sync WAREHOUSE/line_items ...)"
        )
    logger.info("registering %d billing periods of %s in %s", len(periods), warehouse, database)

    with aws_errors(f"Glue database {database}"):
        _ensure_database(glue, database)
        _put_table(glue, database, _line_items_table(location))
        registered = set(_registered_partitions(glue, database))
        added = sorted(set(periods) - registered)
        removed = sorted(registered - set(periods))
        _add_partitions(glue, database, location, added)
        _remove_partitions(glue, database, removed)

    seeds = _seed_tables(queries, config)
    for name, table in seeds.items():
        with aws_errors(f"seed {name}"):
            _upload_seed(s3, location, name, table)
            _put_table(glue, database, _seed_table_input(location, name, table.schema))

    # The execution logs (finops act ingest-log); an empty folder is an empty table.
    with aws_errors(f"Glue database {database}"):
        _put_table(glue, database, _action_log_table(location))

    return RegisterResult(
        database=database,
        tables=(SOURCE, *seeds, ACTION_LOG),
        partitions=tuple(periods),
        partitions_added=tuple(added),
        partitions_removed=tuple(removed),
    )


def glue_type(arrow_type: pa.DataType) -> str:
    """The Glue (Hive) column type of an Arrow type, as Athena reads it from Parquet."""
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    simple = {
        pa.float64(): "double",
        pa.float32(): "float",
        pa.int64(): "bigint",
        pa.int32(): "int",
        pa.int16(): "smallint",
        pa.int8(): "tinyint",
        pa.bool_(): "boolean",
        pa.date32(): "date",
    }
    if arrow_type in simple:
        return simple[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_map(arrow_type):
        return f"map<{glue_type(arrow_type.key_type)},{glue_type(arrow_type.item_type)}>"
    if pa.types.is_list(arrow_type):
        return f"array<{glue_type(arrow_type.value_type)}>"
    raise TypeError(f"no Glue type for {arrow_type}")


def _partition_folders(s3: Any, location: S3Location) -> Iterator[str]:
    prefix = location.key(SOURCE) + "/"
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=location.bucket, Prefix=prefix, Delimiter="/"
    ):
        for common in page.get("CommonPrefixes", []):
            match = _PERIOD_FOLDER.match(common["Prefix"][len(prefix) :])
            if match:
                yield match.group(1)
            else:
                logger.warning("skipping %s: not a billing_period=YYYY-MM folder", common["Prefix"])


def _ensure_database(glue: Any, database: str) -> None:
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(
            DatabaseInput={
                "Name": database,
                "Description": "finops-pipeline: CUR line items, seeds and the models as views",
            }
        )
        logger.info("created Glue database %s", database)


def _line_items_table(location: S3Location) -> dict[str, Any]:
    return {
        "Name": SOURCE,
        "Description": "CUR line items in the contract's columns (finops-pipeline warehouse)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "PartitionKeys": [{"Name": PARTITION_KEY, "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [
                {"Name": field.name, "Type": glue_type(field.type)} for field in LINE_ITEMS_SCHEMA
            ],
            "Location": location.url(SOURCE),
            **_PARQUET_STORAGE,
        },
    }


def _action_log_table(location: S3Location) -> dict[str, Any]:
    from pipelines.action_log import SCHEMA

    return {
        "Name": ACTION_LOG,
        "Description": "finops-pipeline execution logs of the plan executor",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "StorageDescriptor": {
            "Columns": [{"Name": field.name, "Type": glue_type(field.type)} for field in SCHEMA],
            "Location": location.url(ACTION_LOG),
            **_PARQUET_STORAGE,
        },
    }


def _seed_table_input(location: S3Location, name: str, schema: pa.Schema) -> dict[str, Any]:
    return {
        "Name": name,
        "Description": f"finops-pipeline seed {name}",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
        "StorageDescriptor": {
            "Columns": [{"Name": field.name, "Type": glue_type(field.type)} for field in schema],
            "Location": location.url(SEEDS_PREFIX, name),
            **_PARQUET_STORAGE,
        },
    }


def _put_table(glue: Any, database: str, table: dict[str, Any]) -> None:
    try:
        glue.create_table(DatabaseName=database, TableInput=table)
    except glue.exceptions.AlreadyExistsException:
        glue.update_table(DatabaseName=database, TableInput=table)


def _registered_partitions(glue: Any, database: str) -> Iterator[str]:
    for page in glue.get_paginator("get_partitions").paginate(
        DatabaseName=database, TableName=SOURCE
    ):
        for partition in page["Partitions"]:
            yield partition["Values"][0]


def _add_partitions(glue: Any, database: str, location: S3Location, periods: list[str]) -> None:
    storage = _line_items_table(location)["StorageDescriptor"]
    for chunk in _chunks(periods, 100):  # Glue's limit per BatchCreatePartition
        response = glue.batch_create_partition(
            DatabaseName=database,
            TableName=SOURCE,
            PartitionInputList=[
                {
                    "Values": [period],
                    "StorageDescriptor": {
                        **storage,
                        "Location": location.url(SOURCE, f"{PARTITION_KEY}={period}"),
                    },
                }
                for period in chunk
            ],
        )
        _raise_batch_errors(response, "BatchCreatePartition")


def _remove_partitions(glue: Any, database: str, periods: list[str]) -> None:
    for chunk in _chunks(periods, 25):  # Glue's limit per BatchDeletePartition
        response = glue.batch_delete_partition(
            DatabaseName=database,
            TableName=SOURCE,
            PartitionsToDelete=[{"Values": [period]} for period in chunk],
        )
        _raise_batch_errors(response, "BatchDeletePartition")


def _raise_batch_errors(response: dict[str, Any], call: str) -> None:
    errors = response.get("Errors") or []
    if errors:
        details = "; ".join(
            f"{error['PartitionValues']}: {error['ErrorDetail'].get('ErrorCode')} "
            f"{error['ErrorDetail'].get('ErrorMessage', '')}".strip()
            for error in errors
        )
        raise WarehouseError(f"Glue {call} failed for {len(errors)} partitions: {details}")


def _seed_tables(queries: Path, config: Config) -> dict[str, pa.Table]:
    rows = config.seed_rows()
    tables = {
        name: pa.Table.from_pylist(
            [dict(zip(schema.names, row, strict=True)) for row in rows[name]], schema=schema
        )
        for name, schema in _CONFIGURED_SEED_SCHEMAS.items()
    }
    for name, path in find_seeds(queries).items():
        if name not in tables:
            # The types DuckDB's CSV reader gives them, as the DuckDB build reads them.
            with duckdb.connect() as connection:
                tables[name] = connection.read_csv(str(path), header=True).to_arrow_table()
    return tables


def _upload_seed(s3: Any, location: S3Location, name: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    s3.put_object(
        Bucket=location.bucket,
        Key=location.key(SEEDS_PREFIX, name, f"{name}.parquet"),
        Body=buffer.getvalue(),
    )


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def aws_errors(doing: str) -> Iterator[None]:
    """Turn botocore's errors into a WarehouseError naming what was being done.

    Throttling and other transient errors have been retried by boto3's own retry policy by then.
    """
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        message = error.response.get("Error", {}).get("Message", str(error))
        raise WarehouseError(f"{doing}: AWS refused: {code}: {message}") from error
    except BotoCoreError as error:
        raise WarehouseError(f"{doing}: {error}") from error
