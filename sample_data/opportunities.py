"""Generated CUR with planted savings opportunities and labels of what was planted.

An opt-in variant of the generator (``sample_data/generate.py``): instead of the usual mixed
fleet, a clean fleet in which nothing is worth recommending (production Graviton instances
around the clock with gp3 volumes, a Graviton database, buckets, functions, a nightly Spot
job), plus planted opportunities:

- x86 production instances whose family has a Graviton equivalent (m5, c5): ``graviton``;
- a non-production fleet of Graviton instances running 24x7: ``schedule`` (and ``spot``, as
  non-production on-demand capacity);
- idle Elastic IPs: ``idle``;
- unattached volumes, in an availability zone where no instance runs: ``idle``;
- gp2 volumes attached to production instances: ``gp3``.

Every resource is tagged cleanly (team and env), so the labels say exactly which
recommendations a correct pipeline makes. ``opportunities.json`` beside the CUR holds them:
``[{"kind": ..., "resource_id": ..., "what": ...}, ...]``. The Compute Savings Plan sizing
(``commitment``) is fleet-wide and not a planted resource, so it is not labelled.

Run it with ``python -m sample_data.opportunities OUT [--months M] [--seed S]``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from sample_data.generate import REGIONS, GroundTruth, _Fleet, _FleetBuilder, generate

LABELS_FILE = "opportunities.json"
_US_EAST_1 = REGIONS[0]
# The generator draws zones a-c: a volume in zone d has no instance beside it.


class _Planter:
    """Builds the clean fleet and the planted opportunities on one fleet builder."""

    def __init__(self) -> None:
        self.labels: list[dict[str, str]] = []

    def build(self, builder: _FleetBuilder, budget: float) -> _Fleet:  # noqa: ARG002 - fixed size
        self._clean(builder)
        self._planted(builder)
        builder._tag()
        for resource in builder.resources:
            # Clean tags, so that every label is a recommendation the data supports.
            resource.tags = {"user:Team": resource.team, "user:env": resource.env}
            resource.team_key, resource.env_key = resource.team, resource.env
        return _Fleet(
            builder.payer,
            builder.accounts,
            builder.roles,
            builder.resources,
            builder.meters,
            builder.reservations,
            builder._savings_plan(),
        )

    def _clean(self, builder: _FleetBuilder) -> None:
        for type_name in ("m7g.large", "c6g.xlarge", "r6g.large", "m7g.large"):
            self._instance(builder, "prod", type_name, "gp3")
        builder.database("prod", core=True, db_class="db.r6g.large", region=_US_EAST_1)
        builder.spot("prod", core=True)
        builder.bucket("prod", core=True)
        builder.function("prod", core=True)
        builder.snapshot("prod", core=True)

    def _planted(self, builder: _FleetBuilder) -> None:
        for type_name in ("m5.xlarge", "c5.xlarge", "m5.2xlarge"):
            instance = self._instance(builder, "prod", type_name, "gp3")
            self._label("graviton", instance, f"production {type_name} on demand around the clock")
        for _ in range(3):
            instance = self._instance(builder, "dev", "m6g.large", "gp3")
            for kind in ("schedule", "spot"):
                self._label(kind, instance, "development m6g.large running 24x7")
        for _ in range(2):
            builder.elastic_ip("dev", core=True)
            self._label("idle", len(builder.resources) - 1, "Elastic IP billed as idle")
        for _ in range(2):
            builder.volume("dev", core=True, api="gp3")
            volume = builder.resources[-1]
            volume.az = f"{volume.region.code}d"
            self._label(
                "idle",
                len(builder.resources) - 1,
                "unattached gp3 volume in a zone without instances",
            )
        for _ in range(2):
            instance = self._instance(builder, "prod", "m7g.large", "gp2")
            # Large enough to save more than the smallest recommendation kept.
            builder.resources[instance + 1].size_gb = 400.0
            self._label("gp3", instance + 1, "gp2 volume attached to a production instance")

    def _instance(self, builder: _FleetBuilder, env: str, type_name: str, volume: str) -> int:
        meter = builder.instance(
            env, core=True, pattern="always", type_name=type_name, region=_US_EAST_1, volume=False
        )
        resource = builder.meters[meter].resource
        builder.volume(env, core=True, attached_to=resource, api=volume)
        return resource

    def _label(self, kind: str, resource: int, what: str) -> None:
        self.labels.append({"kind": kind, "resource": str(resource), "what": what})


def generate_with_opportunities(
    out_dir: Path, *, months: int = 2, seed: int = 7, **options
) -> list:
    """Write a legacy CUR export with planted opportunities and ``opportunities.json``.

    Returns:
        The labels: one dict per expected recommendation (kind, resource_id, what).
    """
    planter = _Planter()
    builders: list[_FleetBuilder] = []

    def build(builder: _FleetBuilder, budget: float) -> _Fleet:
        builders.append(builder)
        return planter.build(builder, budget)

    truth: GroundTruth = generate(
        Path(out_dir), months=months, seed=seed, fleet_builder=build, **options
    )
    resources = builders[0].resources
    labels = [
        {
            "kind": label["kind"],
            "resource_id": resources[int(label["resource"])].resource_id,
            "what": label["what"],
        }
        for label in planter.labels
    ]
    (Path(out_dir) / LABELS_FILE).write_text(json.dumps(labels, indent=2) + "\n")
    del truth
    return labels


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the CUR export and opportunities.json")
    parser.add_argument("--months", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rows", type=int, default=20_000, help="passed to the generator")
    args = parser.parse_args(argv)
    labels = generate_with_opportunities(
        args.out, months=args.months, seed=args.seed, rows=args.rows
    )
    print(f"{len(labels)} planted opportunities -> {args.out / LABELS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
