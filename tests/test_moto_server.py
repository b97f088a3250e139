"""The moto server fixture answers like S3 over real HTTP."""

import boto3


def test_moto_server_serves_s3_over_http(aws_env: str) -> None:
    s3 = boto3.client("s3")
    assert s3.meta.endpoint_url == aws_env
    s3.create_bucket(Bucket="fixture-check")
    s3.put_object(Bucket="fixture-check", Key="a/b.txt", Body=b"hello")
    body = s3.get_object(Bucket="fixture-check", Key="a/b.txt")["Body"].read()
    assert body == b"hello"
