"""Clients per account and region, botocore's adaptive retries, and AWS errors by their code.

Every client is made with ``retries={"mode": "adaptive"}``: throttling (``Throttling``,
``RequestLimitExceeded``, ...) and 5xx are retried with backoff, and the client slows its own
request rate when throttled. Attempts come from ``AWS_MAX_ATTEMPTS`` (default 8).

A ``Scope`` is one account and region. Another account is reached by assuming the configured
role with STS once per run; the standard settings (``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ...)
apply as for any AWS tool.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.exceptions
import botocore.loaders
from botocore.config import Config as BotoConfig

from lambdas.config import Config, Target
from lambdas.errors import ConfigError

PERMISSIONS = {"sts:AssumeRole", "sts:GetCallerIdentity"}

# The resource is gone: what a retry of an action that already happened sees. Never a failure.
NOT_FOUND = {
    "InvalidInstanceID.NotFound",
    "InvalidVolume.NotFound",
    "InvalidSnapshot.NotFound",
    "InvalidAllocationID.NotFound",
    "InvalidAddress.NotFound",
    "InvalidNetworkInterfaceID.NotFound",
    "InvalidNatGatewayID.NotFound",
    "LoadBalancerNotFound",
    "DBInstanceNotFound",
    "DBInstanceNotFoundFault",
    "DBClusterNotFoundFault",
}
# The resource was taken into use between the check and the action: it no longer qualifies.
IN_USE = {
    "VolumeInUse",
    "IncorrectState",
    "InvalidSnapshot.InUse",
    "InvalidNetworkInterface.InUse",
    "InvalidIPAddress.InUse",
    "AuthFailure.AddressInUse",
    "ResourceInUse",
    "ResourceInUseException",
    "IncorrectInstanceState",
    "InvalidDBInstanceState",
    "InvalidDBInstanceStateFault",
    "InvalidDBClusterStateFault",
}


def error_code(error: BaseException) -> str:
    """AWS's error code of a ClientError (``InvalidVolume.NotFound``); the class name otherwise."""
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


def retry_config() -> BotoConfig:
    attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or 8)
    return BotoConfig(
        retries={"mode": "adaptive", "total_max_attempts": attempts},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="finops-act",
    )


# One loader for every session of the process: parsing a service's API model (EC2's is large)
# once per container instead of once per session and run.
_LOADER = botocore.loaders.create_loader()


def new_session(**arguments: Any) -> boto3.Session:
    """A boto3 session (standard settings and credentials chain) sharing the model loader.

    Without a region given, ``AWS_REGION`` is taken, then ``AWS_DEFAULT_REGION``: botocore
    reads only the latter, while the Lambda runtime and most AWS tools set the former.
    """
    if not arguments.get("region_name"):
        arguments["region_name"] = os.environ.get("AWS_REGION") or None
    session = boto3.Session(**arguments)
    session._session.register_component("data_loader", _LOADER)
    return session


def home_client(service: str, region: str | None = None) -> Any:
    """A client in the function's own account (audit bucket, plan object, STS)."""
    return new_session(region_name=region).client(service, config=retry_config())


@dataclass
class Scope:
    """One account and region, with its clients made once."""

    account_id: str
    region: str
    session: boto3.Session
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, region_name=self.region, config=retry_config()
            )
        return self._clients[service]

    @property
    def name(self) -> str:
        return f"{self.account_id}/{self.region}"


class Sessions:
    """Sessions per account (assumed roles cached for the run) and the scopes of a run."""

    def __init__(self, config: Config, base: boto3.Session | None = None) -> None:
        self.config = config
        self.base = base if base is not None else new_session()
        if base is None and self.base.region_name is None and config.regions:
            # STS needs a region to be called at all; any configured one reaches the account.
            self.base = new_session(region_name=config.regions[0])
        self._sessions: dict[Target, tuple[str, boto3.Session]] = {}

    def regions(self) -> tuple[str, ...]:
        """The configured regions; without any, the session's own (us-east-1 if it has none)."""
        return self.config.regions or (self.base.region_name or "us-east-1",)

    def scopes(self) -> list[Scope]:
        """Every configured account times every configured region."""
        return [
            Scope(account_id, region, session)
            for target in self.config.accounts
            for account_id, session in [self.session(target)]
            for region in self.regions()
        ]

    def scope(self, account_id: str, region: str) -> Scope | None:
        """The scope for one account and region named by a plan; None when not configured.

        The region is checked as well as the account: a plan names regions itself, and a run
        acts only where the configuration allows, as ``scopes`` does.
        """
        if region not in self.regions():
            return None
        for target in self.config.accounts:
            if target.account_id not in (None, account_id):
                continue
            found, session = self.session(target)
            if found == account_id:
                return Scope(account_id, region, session)
        return None

    def session(self, target: Target) -> tuple[str, boto3.Session]:
        if target not in self._sessions:
            self._sessions[target] = self._open(target)
        return self._sessions[target]

    def _open(self, target: Target) -> tuple[str, boto3.Session]:
        session = self.base
        if target.role_arn:
            sts = self.base.client("sts", config=retry_config())
            try:
                credentials = sts.assume_role(
                    RoleArn=target.role_arn, RoleSessionName="finops-act"
                )["Credentials"]
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
                raise ConfigError(
                    f"account {target.account_id}: AssumeRole {target.role_arn} failed with "
                    f"{error_code(error)}"
                ) from None
            session = new_session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=self.base.region_name,
            )
        # Always asked, even when configured: the credentials (or a role_arn of another
        # account) may reach another account than the one the plan's actions are meant for.
        sts = session.client("sts", config=retry_config())
        try:
            account_id = str(sts.get_caller_identity()["Account"])
        except botocore.exceptions.NoCredentialsError:
            raise ConfigError(
                "no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run where a "
                "role is attached)"
            ) from None
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
            raise ConfigError(f"GetCallerIdentity failed with {error_code(error)}") from None
        if target.account_id is not None and account_id != target.account_id:
            how = f"role {target.role_arn} reaches" if target.role_arn else "the credentials reach"
            raise ConfigError(
                f"account {target.account_id}: {how} account {account_id} instead; "
                "nothing is done in it"
            )
        return account_id, session


#: Items per page of every list call; None leaves each service's own default (tests lower it).
PAGE_SIZE: int | None = None


def paginate(client: Any, operation: str, key: str, **arguments: Any) -> list[dict[str, Any]]:
    """Every item of a list call, page by page through botocore's paginator."""
    items: list[dict[str, Any]] = []
    if PAGE_SIZE is not None:
        arguments["PaginationConfig"] = {"PageSize": PAGE_SIZE}
    for page in client.get_paginator(operation).paginate(**arguments):
        items.extend(page.get(key, []))
    return items
