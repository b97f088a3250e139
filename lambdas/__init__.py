"""AWS Lambda functions that act on the pipeline's findings: scheduler, clean-up, plan executor.

Each handler in ``lambdas.handlers`` reads its configuration once and calls the same plain
functions that ``finops act`` calls locally. Only boto3 and the standard library are imported
here (the Lambda runtime ships boto3); the analytics stack (duckdb, pyarrow) stays out.
"""
