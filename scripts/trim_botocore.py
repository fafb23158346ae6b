"""Keeps in a built layer only the botocore service models the functions may call.

botocore ships a model for each of ~450 AWS services. The first client an environment creates lists the
whole data folder (to check the service name) and parses `endpoints.json` (1.2 MB, every service in every
partition): tens of milliseconds of every cold start spent on services these functions have no permission
to call. The services kept are read from the template: the IAM actions in the functions' policies (an
action's prefix names its service; `execute-api:ManageConnections` is the @connections API), plus STS for
the credential providers. The layer shrinks from about 32 MB of botocore to about 4 MB as well.

    python scripts/trim_botocore.py .aws-sam/build/CoreLayer/python

`scripts/check_artifact.py` then creates a client for each kept service from the trimmed layer and checks
that its endpoint is the one the untrimmed botocore resolves.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kimiyi_local.template import load_template

# IAM action prefixes whose client is named otherwise in botocore.
CLIENT_FOR_PREFIX = {"execute-api": "apigatewaymanagementapi"}
ALWAYS = frozenset({"sts"})  # the credential providers' own calls (web identity, assume role)
# The service prefixes the endpoint rules look up for those clients, kept in endpoints.json with them.
ENDPOINT_KEYS = {"apigatewaymanagementapi": ("execute-api",)}


def _actions(statement: Any) -> Iterator[str]:
    actions = statement.get("Action", []) if isinstance(statement, dict) else []
    yield from [actions] if isinstance(actions, str) else actions


# SAM policy templates (`- SQSSendMessagePolicy: {QueueName: …}`) by the start of their name.
SAM_TEMPLATE_SERVICES = {
    "DynamoDB": "dynamodb",
    "SQS": "sqs",
    "SSMParameter": "ssm",
    "SNS": "sns",
    "S3": "s3",
}


def _policy_statements(policies: Any) -> Iterator[Any]:
    for policy in policies if isinstance(policies, list) else [policies]:
        if not isinstance(policy, dict):
            raise SystemExit(f"policy {policy!r}: name its actions in a Statement or a SAM policy template")
        if "Statement" in policy:
            statements = policy["Statement"]
            yield from statements if isinstance(statements, list) else [statements]
        for name in policy.keys() - {"Statement", "Version"}:
            yield {"Action": f"{_sam_template_service(name)}:*"}


def _sam_template_service(name: str) -> str:
    for start, service in SAM_TEMPLATE_SERVICES.items():
        if name.startswith(start):
            return service
    raise SystemExit(f"SAM policy template {name}: add its service to SAM_TEMPLATE_SERVICES")


def services_in(template: dict[str, Any]) -> frozenset[str]:
    """botocore's names for the services the template's functions have permission to call."""
    found: set[str] = set(ALWAYS)
    for resource in template.get("Resources", {}).values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for statement in _policy_statements(resource.get("Properties", {}).get("Policies", [])):
            for action in _actions(statement):
                if isinstance(action, str) and ":" in action:
                    prefix = action.split(":", 1)[0].lower()
                    found.add(CLIENT_FOR_PREFIX.get(prefix, prefix))
    return frozenset(found)


def trim(layer_python: Path, services: frozenset[str]) -> dict[str, int]:
    """Removes the other services' models and their endpoint entries. Returns what was kept and removed."""
    data = layer_python / "botocore" / "data"
    if not data.is_dir():
        raise SystemExit(f"{layer_python}: no botocore/data here (is this a built layer's python folder?)")
    missing = sorted(name for name in services if not (data / name).is_dir())
    if missing:
        raise SystemExit(f"botocore has no model for {', '.join(missing)}: check the template's IAM actions")
    removed = 0
    for folder in data.iterdir():
        if folder.is_dir() and folder.name not in services:
            shutil.rmtree(folder)
            removed += 1
    keys = {key for name in services for key in (name, *ENDPOINT_KEYS.get(name, ()))}
    endpoints_file = data / "endpoints.json"
    endpoints = json.loads(endpoints_file.read_text())
    for partition in endpoints["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in keys}
    endpoints_file.write_text(json.dumps(endpoints, separators=(",", ":")))
    return {"kept": len(services), "removed": removed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("layer_python", type=Path, help="the built layer's python folder")
    args = parser.parse_args(argv)
    services = services_in(load_template())
    counts = trim(args.layer_python, services)
    print(f"botocore: kept {', '.join(sorted(services))}; removed {counts['removed']} other service models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
