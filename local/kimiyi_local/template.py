"""Reads template.yaml into what the local stack serves: functions, routes, tables and environment.

The template is the one source of truth; nothing here repeats a route, a table or a variable. Only the
intrinsic functions the template uses are resolved (Ref, Sub, If, Equals, Not, Join, Select, GetAtt),
with local values: table names are their logical ids, API URLs point at the local stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .cors import CorsSpec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"

_API_TYPES = {"AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"}
# An API's Ref resolves to this marker; a URL built from it (https://<api>.execute-api.<region>.<suffix>)
# is then rewritten to the local stack's own address.
_API_MARKER = "local-api-"
_EXECUTE_API_URL = re.compile(rf"(https|wss)://{_API_MARKER}[\w-]+\.execute-api\.[^/\s]+")


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that turns CloudFormation short-form tags (!Ref, !Sub, ...) into their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # YAML has no other kind of node
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}", node.start_mark)
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_CfnLoader)


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    module: str
    attribute: str
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int


@dataclass(frozen=True)
class AuthorizerSpec:
    """An HTTP API Lambda authorizer (REQUEST, payload 2.0, simple responses)."""

    name: str
    function: str
    identity_headers: tuple[str, ...]
    ttl_s: int


@dataclass(frozen=True)
class HttpRoute:
    method: str  # upper case, or ANY
    path: str  # /api/performance-metrics/{trackingId}
    function: str
    authorizer: AuthorizerSpec | None = None

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    ttl_attribute: str | None
    global_secondary_indexes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.logical_id


@dataclass(frozen=True)
class StackSpec:
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec]
    http_routes: list[HttpRoute]
    websocket_routes: dict[str, str]  # route key ($connect, $default, $disconnect) -> function
    websocket_stage: str | None
    tables: list[TableSpec]
    cors: CorsSpec | None = None  # the HTTP API's CorsConfiguration


class TemplateError(ValueError):
    """The template uses something the local stack cannot run."""


class _Resolver:
    def __init__(self, template: dict[str, Any], parameters: dict[str, str], local_base_url: str) -> None:
        self.resources: dict[str, Any] = template.get("Resources", {})
        self.conditions: dict[str, Any] = template.get("Conditions", {})
        self.parameters = parameters
        self.local_base_url = local_base_url.rstrip("/")

    def ref(self, name: str) -> str | None:
        """A parameter's value, a pseudo parameter's, or a resource's physical id; None for AWS::NoValue."""
        pseudo: dict[str, str | None] = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "kimiyi-local",
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        resource = self.resources.get(name)
        if resource is None:
            raise TemplateError(f"Ref to unknown name {name!r}")
        if resource["Type"] in _API_TYPES:
            return f"{_API_MARKER}{name}"
        return name  # tables, functions, layers: their logical id stands in for the physical name

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::If":
            name, then, otherwise = arg
            return self.resolve(then if self.condition(name) else otherwise)
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Fn::And":
            return all(self.resolve(a) for a in arg)
        if key == "Fn::Or":
            return any(self.resolve(a) for a in arg)
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Join":
            sep, items = arg
            return sep.join(str(i) for i in self.resolve(items))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::Split":
            sep, text = arg
            return str(self.resolve(text)).split(sep)
        if key == "Fn::GetAtt":
            return f"{arg[0]}.{arg[1]}"
        return {key: self.resolve(arg)}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            return str(self.ref(name.split(".", 1)[0]) if "." in name else self.ref(name))

        text = re.sub(r"\$\{([^}!]+)\}", replace, text)
        return self.localise_url(text)

    def localise_url(self, text: str) -> str:
        def to_local(match: re.Match[str]) -> str:
            scheme = "ws" if match.group(1) == "wss" else "http"
            return self.local_base_url.replace("http", scheme, 1)

        return _EXECUTE_API_URL.sub(to_local, text)


def _parameter_defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(p.get("Default", "")) for name, p in template.get("Parameters", {}).items()}


def _http_authorizers(resources: dict[str, Any]) -> tuple[dict[str, AuthorizerSpec], str | None]:
    """The Lambda authorizers declared on the template's HttpApi, and its default one."""
    for resource in resources.values():
        if resource["Type"] != "AWS::Serverless::HttpApi":
            continue
        auth = resource.get("Properties", {}).get("Auth", {})
        authorizers = {}
        for name, props in auth.get("Authorizers", {}).items():
            function_arn = props["FunctionArn"]
            if not (isinstance(function_arn, dict) and "Fn::GetAtt" in function_arn):
                raise TemplateError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn")
            if (
                not props.get("EnableSimpleResponses")
                or str(props.get("AuthorizerPayloadFormatVersion")) != "2.0"
            ):
                raise TemplateError(
                    f"authorizer {name}: the local stack runs payload 2.0 simple responses only"
                )
            identity = props.get("Identity", {})
            authorizers[name] = AuthorizerSpec(
                name=name,
                function=function_arn["Fn::GetAtt"][0],
                identity_headers=tuple(h.lower() for h in identity.get("Headers", [])),
                ttl_s=int(identity.get("ReauthorizeEvery", 300)),
            )
        return authorizers, auth.get("DefaultAuthorizer")
    return {}, None


def _http_cors(template: dict[str, Any], resolver: _Resolver) -> CorsSpec | None:
    """The HttpApi's CorsConfiguration, else the Globals' (SAM's implicit API). Like the authorizers, it
    is applied to every HTTP route: the template has one HTTP API."""
    for resource in template.get("Resources", {}).values():
        if resource["Type"] == "AWS::Serverless::HttpApi":
            value = resource.get("Properties", {}).get("CorsConfiguration")
            if value is not None:
                return CorsSpec.from_template(resolver.resolve(value))
    value = template.get("Globals", {}).get("HttpApi", {}).get("CorsConfiguration")
    return None if value is None else CorsSpec.from_template(resolver.resolve(value))


def _function_for_integration_uri(uri: str, functions: set[str]) -> str:
    for name in re.findall(r"\$\{([A-Za-z0-9]+)", uri):
        for function in functions:
            if name == function or name.startswith(f"{function}Alias"):
                return function
    raise TemplateError(f"cannot tell which function the integration {uri!r} invokes")


def read_stack(
    local_base_url: str,
    parameter_overrides: dict[str, str] | None = None,
    path: Path = TEMPLATE_PATH,
) -> StackSpec:
    template = load_template(path)
    parameters = _parameter_defaults(template) | (parameter_overrides or {})
    resolver = _Resolver(template, parameters, local_base_url)
    resources = template["Resources"]
    function_globals = template.get("Globals", {}).get("Function", {})
    global_env = function_globals.get("Environment", {}).get("Variables", {})

    authorizers, default_authorizer = _http_authorizers(resources)
    functions: dict[str, FunctionSpec] = {}
    http_routes: list[HttpRoute] = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        module, _, attribute = props["Handler"].rpartition(".")
        env = {**global_env, **props.get("Environment", {}).get("Variables", {})}
        resolved_env = {k: resolver.resolve(v) for k, v in env.items()}
        functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=(path.parent / props["CodeUri"]).resolve(),
            module=module,
            attribute=attribute,
            environment={k: "" if v is None else str(v) for k, v in resolved_env.items()},
            timeout_s=int(props.get("Timeout", function_globals.get("Timeout", 3))),
            memory_mb=int(props.get("MemorySize", function_globals.get("MemorySize", 128))),
        )
        for event in props.get("Events", {}).values():
            if event["Type"] == "HttpApi":
                event_props = event["Properties"]
                name = event_props.get("Auth", {}).get("Authorizer", default_authorizer)
                authorizer = None if name in (None, "NONE") else authorizers[name]
                http_routes.append(
                    HttpRoute(event_props["Method"].upper(), event_props["Path"], logical_id, authorizer)
                )

    websocket_routes: dict[str, str] = {}
    websocket_stage = None
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::ApiGatewayV2::Route":
            target = resolver.resolve(props["Target"])  # integrations/<IntegrationLogicalId>
            integration = resources[target.rsplit("/", 1)[-1]]["Properties"]
            uri = integration["IntegrationUri"]
            uri_text = uri["Fn::Sub"] if isinstance(uri, dict) and "Fn::Sub" in uri else str(uri)
            websocket_routes[props["RouteKey"]] = _function_for_integration_uri(uri_text, set(functions))
        elif resource["Type"] == "AWS::ApiGatewayV2::Stage":
            websocket_stage = resolver.resolve(props["StageName"])

    tables = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        props = resource["Properties"]
        ttl = props.get("TimeToLiveSpecification", {})
        tables.append(
            TableSpec(
                logical_id=logical_id,
                key_schema=props["KeySchema"],
                attribute_definitions=props["AttributeDefinitions"],
                ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
                global_secondary_indexes=props.get("GlobalSecondaryIndexes", []),
            )
        )
    cors = _http_cors(template, resolver)
    return StackSpec(parameters, functions, http_routes, websocket_routes, websocket_stage, tables, cors)
