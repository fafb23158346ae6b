"""Where the authorizer finds the tenants' key digests: KIMIYI_API_KEYS (local stacks, tests, a developer's
shell) or, when that is unset, the SSM parameters under `<SECRETS_PATH>/tenants/` (deployed stacks).

The SSM read is one GetParametersByPath through Powertools Parameters, cached for five minutes per
execution environment; API Gateway also caches each key's answer for five minutes (ReauthorizeEvery), so a
revoked key stops working within ten.
"""

from __future__ import annotations

from ..api_keys import TenantKeys
from ..settings import Settings

TENANTS_MAX_AGE_S = 300


def tenants_path(secrets_path: str) -> str:
    return f"{secrets_path.rstrip('/')}/tenants"


def load_tenant_keys(settings: Settings) -> TenantKeys:
    plain = settings.get("KIMIYI_API_KEYS")
    if plain:
        return TenantKeys.from_plain(plain)
    if not settings.secrets_path:
        return TenantKeys()
    # Imported here: it brings boto3, which a stack configured by its environment never needs.
    from aws_lambda_powertools.utilities import parameters

    stored = parameters.get_parameters(
        tenants_path(settings.secrets_path), recursive=False, decrypt=True, max_age=TENANTS_MAX_AGE_S
    )
    return TenantKeys.from_digests({name: str(value) for name, value in stored.items()})
