"""Tenants and their API keys in a deployed stack: creates, adds, lists and revokes keys in SSM.

Each tenant is one SecureString, `<path>/tenants/<tenantId>`, holding SHA-256 digests of its keys
(kimiyi.api_keys); the authorizer reads them by path. A key itself is printed once, when it is created,
and stored nowhere.

    python scripts/api_keys.py new --tenant acme --stage prod      # a new key for acme (printed once)
    python scripts/api_keys.py add --tenant acme --stage prod < key # keep a key you already hand out
    python scripts/api_keys.py list --stage prod                   # tenants and their key ids
    python scripts/api_keys.py revoke --tenant acme --key-id key_0123456789ab --stage prod
    python scripts/api_keys.py hash < key                          # the digest, for a parameter by hand

A revoked key stops working within ten minutes: the authorizer's parameter cache and API Gateway's
answer cache (ReauthorizeEvery) each keep five.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

from kimiyi.api_keys import TENANT_ID, digest_id, key_digest

KEY_PREFIX = "kv_"  # recognisable in a leak scan; 32 random bytes follow


def tenant_parameter(path: str, tenant: str) -> str:
    return f"{path.rstrip('/')}/tenants/{tenant}"


def read_digests(ssm: Any, path: str, tenant: str) -> list[str]:
    try:
        value = ssm.get_parameter(Name=tenant_parameter(path, tenant), WithDecryption=True)["Parameter"][
            "Value"
        ]
    except ssm.exceptions.ParameterNotFound:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def write_digests(ssm: Any, path: str, tenant: str, digests: list[str]) -> None:
    name = tenant_parameter(path, tenant)
    if not digests:
        ssm.delete_parameter(Name=name)
        return
    ssm.put_parameter(
        Name=name,
        Value=",".join(digests),
        Type="SecureString",
        Overwrite=True,
        Description=f"API key digests of tenant {tenant} (scripts/api_keys.py)",
    )


def add_key(ssm: Any, path: str, tenant: str, key: str) -> str:
    """Stores the key's digest under the tenant; returns the key's id. A key already held by another
    tenant is refused: the authorizer would open neither."""
    digest = key_digest(key)
    for other in list_tenants(ssm, path):
        if other != tenant and digest in read_digests(ssm, path, other):
            raise SystemExit(f"{digest_id(digest)} already belongs to tenant {other}; use another key")
    digests = read_digests(ssm, path, tenant)
    if digest not in digests:
        write_digests(ssm, path, tenant, [*digests, digest])
    return digest_id(digest)


def revoke_key(ssm: Any, path: str, tenant: str, key_id: str) -> bool:
    digests = read_digests(ssm, path, tenant)
    kept = [digest for digest in digests if digest_id(digest) != key_id]
    if kept == digests:
        return False
    write_digests(ssm, path, tenant, kept)
    return True


def list_tenants(ssm: Any, path: str) -> dict[str, list[str]]:
    """tenant -> its key ids (never digests or keys)."""
    prefix = tenant_parameter(path, "")
    found: dict[str, list[str]] = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=prefix.rstrip("/"), Recursive=False, WithDecryption=True
    ):
        for parameter in page["Parameters"]:
            tenant = parameter["Name"].removeprefix(prefix)
            digests = [part.strip() for part in parameter["Value"].split(",") if part.strip()]
            found[tenant] = [digest_id(digest) for digest in digests]
    return dict(sorted(found.items()))


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _tenant(value: str) -> str:
    if not TENANT_ID.match(value):
        raise argparse.ArgumentTypeError(
            "a tenant id is 1-63 of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return value


def _key_from_stdin() -> str:
    key = sys.stdin.readline().strip()
    if not key:
        raise SystemExit("no key on standard input")
    return key


def main(argv: list[str] | None = None, ssm: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("new", "add", "list", "revoke", "hash"))
    parser.add_argument("--tenant", type=_tenant)
    parser.add_argument("--key-id", help="for revoke: the id `list` shows (key_ + 12 hex digits)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--stage", default="dev", help="the stack's Stage; the path is /kimiyi/<stage>")
    where.add_argument("--path", help="SECRETS_PATH, when it is not /kimiyi/<stage>")
    args = parser.parse_args(argv)
    if args.command in ("new", "add", "revoke") and not args.tenant:
        parser.error(f"{args.command} needs --tenant")
    if args.command == "revoke" and not args.key_id:
        parser.error("revoke needs --key-id")
    if args.command == "hash":
        print(key_digest(_key_from_stdin()))
        return 0
    path = args.path or f"/kimiyi/{args.stage}"
    if ssm is None:
        import boto3

        ssm = boto3.client("ssm")
    if args.command == "new":
        key = new_key()
        ident = add_key(ssm, path, args.tenant, key)
        print(f"tenant {args.tenant}: new key {ident}. It is shown this once; store it now:\n{key}")
    elif args.command == "add":
        print(f"tenant {args.tenant}: added {add_key(ssm, path, args.tenant, _key_from_stdin())}")
    elif args.command == "revoke":
        if not revoke_key(ssm, path, args.tenant, args.key_id):
            print(f"tenant {args.tenant} has no key {args.key_id}", file=sys.stderr)
            return 1
        print(f"tenant {args.tenant}: revoked {args.key_id} (it stops working within ten minutes)")
    else:
        for tenant, ids in list_tenants(ssm, path).items():
            print(f"{tenant}: {', '.join(ids) or '(no keys)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
