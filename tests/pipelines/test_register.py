"""finops register: the Glue tables for a warehouse in S3, against moto's S3 and Glue over HTTP."""

from __future__ import annotations

import csv
import io
import uuid

import boto3
import pyarrow.parquet as pq
import pytest

from pipelines.config import queries_folder
from pipelines.contract import LINE_ITEMS_SCHEMA
from pipelines.errors import ConfigError, WarehouseError
from pipelines.register import S3Location, register


@pytest.fixture
def bucket(aws_env: str) -> str:
    name = f"lake-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def _put_period(bucket: str, period: str) -> None:
    boto3.client("s3").put_object(
        Bucket=bucket, Key=f"cur/line_items/billing_period={period}/part-00001.parquet", Body=b"x"
    )


def _database() -> str:
    return f"finops_{uuid.uuid4().hex[:10]}"


def test_register_creates_line_items_with_contract_columns_and_partitions(bucket: str):
    _put_period(bucket, "2024-01")
    _put_period(bucket, "2024-02")
    database = _database()

    result = register(f"s3://{bucket}/cur", database)

    glue = boto3.client("glue")
    table = glue.get_table(DatabaseName=database, Name="line_items")["Table"]
    columns = {column["Name"]: column["Type"] for column in table["StorageDescriptor"]["Columns"]}
    assert list(columns) == LINE_ITEMS_SCHEMA.names
    assert columns["line_item_unblended_cost"] == "double"
    assert columns["line_item_usage_start_date"] == "timestamp"
    assert columns["line_item_line_item_type"] == "string"
    assert columns["resource_tags"] == "map<string,string>"
    assert table["PartitionKeys"] == [{"Name": "billing_period", "Type": "string"}]
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/cur/line_items/"
    assert table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith(
        "ParquetHiveSerDe"
    )
    partitions = glue.get_partitions(DatabaseName=database, TableName="line_items")["Partitions"]
    assert sorted(
        (partition["Values"][0], partition["StorageDescriptor"]["Location"])
        for partition in partitions
    ) == [
        ("2024-01", f"s3://{bucket}/cur/line_items/billing_period=2024-01/"),
        ("2024-02", f"s3://{bucket}/cur/line_items/billing_period=2024-02/"),
    ]
    assert result.partitions == ("2024-01", "2024-02")
    assert result.partitions_added == ("2024-01", "2024-02")
    assert result.tables[0] == "line_items"


def test_register_writes_the_seeds_as_parquet_tables(bucket: str):
    _put_period(bucket, "2024-01")
    database = _database()

    result = register(f"s3://{bucket}/cur", database)

    assert {"tag_key_aliases", "tag_value_aliases"} <= set(result.tables)
    glue = boto3.client("glue")
    table = glue.get_table(DatabaseName=database, Name="tag_key_aliases")["Table"]
    assert [
        (column["Name"], column["Type"]) for column in table["StorageDescriptor"]["Columns"]
    ] == [("dimension", "string"), ("alias", "string"), ("priority", "int")]
    assert table["StorageDescriptor"]["Location"] == f"s3://{bucket}/cur/_seeds/tag_key_aliases/"
    body = boto3.client("s3").get_object(
        Bucket=bucket, Key="cur/_seeds/tag_key_aliases/tag_key_aliases.parquet"
    )["Body"]
    written = pq.read_table(io.BytesIO(body.read())).to_pylist()
    # The shipped defaults, read from the seed CSV itself.
    with (queries_folder() / "seeds" / "tag_key_aliases.csv").open() as seed:
        expected = [
            {"dimension": row["dimension"], "alias": row["alias"], "priority": int(row["priority"])}
            for row in csv.DictReader(seed)
        ]
    assert sorted(written, key=str) == sorted(expected, key=str)


def test_register_again_follows_the_months_in_s3(bucket: str):
    _put_period(bucket, "2024-01")
    _put_period(bucket, "2024-02")
    database = _database()
    register(f"s3://{bucket}/cur", database)
    s3 = boto3.client("s3")
    s3.delete_object(Bucket=bucket, Key="cur/line_items/billing_period=2024-01/part-00001.parquet")
    _put_period(bucket, "2024-03")

    result = register(f"s3://{bucket}/cur/", database)

    assert result.partitions_added == ("2024-03",)
    assert result.partitions_removed == ("2024-01",)
    partitions = boto3.client("glue").get_partitions(DatabaseName=database, TableName="line_items")
    assert sorted(p["Values"][0] for p in partitions["Partitions"]) == ["2024-02", "2024-03"]


def test_register_refuses_a_warehouse_without_line_items(bucket: str):
    with pytest.raises(WarehouseError, match=r"line_items/: no billing_period=YYYY-MM/ folder"):
        register(f"s3://{bucket}/empty", _database())


@pytest.mark.parametrize(
    ("warehouse", "database", "problem"),
    [
        ("warehouse", "finops", "not an S3 location"),
        ("/tmp/warehouse", "finops", "not an S3 location"),
        ("s3://bucket/cur", "Fin-Ops", "not a Glue database name"),
    ],
)
def test_register_refuses_bad_names(warehouse: str, database: str, problem: str):
    with pytest.raises(ConfigError, match=problem):
        register(warehouse, database)


def test_register_names_the_missing_bucket(aws_env: str):
    with pytest.raises(WarehouseError, match=r"s3://no-such-bucket-x1: AWS refused: NoSuchBucket"):
        register("s3://no-such-bucket-x1/cur", _database())


def test_s3_location_parses_bucket_and_prefix():
    assert S3Location.parse("s3://bucket/a/b/") == S3Location("bucket", "a/b")
    assert S3Location.parse("s3://bucket").url("line_items") == "s3://bucket/line_items/"
