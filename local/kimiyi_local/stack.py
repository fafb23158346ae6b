"""The local stack: the template's HTTP API, WebSocket API and @connections API on one loopback port.

Handlers run in process, unchanged, each invocation on a worker thread (as Lambda runs each event in its
own environment); WebSocket messages are dispatched concurrently, so an `interrupt` can arrive while a
`prompt` invocation is still streaming, exactly as on API Gateway.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import secrets
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import events
from .dynamodb import LocalDynamoDB
from .runtime import Handler, LambdaContext, load_handler
from .template import REGION, TEMPLATE_PATH, FunctionSpec, HttpRoute, StackSpec, read_stack

log = logging.getLogger("kimiyi_local")

# What the local stack sets for every function: no real AWS account is ever reached, and the secrets
# have documented local values (a variable already set in the environment or the env file wins).
LOCAL_DEFAULTS = {
    "TWILIO_AUTH_TOKEN": "local-auth-token",
    "KIMIYI_API_KEYS": "local-dev-key",
}
# Template parameters with local values: any page on this machine (a workflow editor on its dev server)
# may call the local API; a deployed stack allows only the origins CorsAllowedOrigins names.
LOCAL_PARAMETERS = {"CorsAllowedOrigins": "*"}
WEBSOCKET_MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message limit
HTTP_INTEGRATION_TIMEOUT_S = 30.0


@dataclass
class _Connection:
    socket: WebSocket
    connected_at: float
    source_ip: str
    user_agent: str
    last_active: float = field(default_factory=time.time)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()


def _compile_route(route: HttpRoute) -> re.Pattern[str]:
    pattern = re.sub(r"\{(\w+)\+\}", r"(?P<\1>.+)", route.path)
    pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
    return re.compile(f"^{pattern}$")


def _specificity(route: HttpRoute) -> tuple[bool, int, bool]:
    # API Gateway picks the most specific path first (greedy last), then an exact method over ANY.
    return ("+}" in route.path, route.path.count("{"), route.method == "ANY")


def _read_env_file(path: Path | None) -> dict[str, dict[str, str]]:
    """`sam local --env-vars` format: {"Parameters": {...all functions...}, "<Function>": {...}}."""
    if path is None or not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected {{'Parameters': {{...}}, '<FunctionName>': {{...}}}}")
    return {name: {k: str(v) for k, v in values.items()} for name, values in data.items()}


class LocalStack:
    def __init__(
        self,
        *,
        port: int = 3000,
        template: Path = TEMPLATE_PATH,
        env_file: Path | None = None,
        function_overrides: dict[str, Handler] | None = None,
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", port))
        self._socket.listen(2048)  # connections made before the server loop runs wait in the backlog
        self.port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.domain_name = f"127.0.0.1:{self.port}"
        self._template = template
        self._env_file = env_file
        self._handlers: dict[str, Handler] = dict(function_overrides or {})
        self._connections: dict[str, _Connection] = {}
        self._authorizations: dict[tuple[str, ...], tuple[float, dict]] = {}
        self._limiter = anyio.CapacityLimiter(256)
        self.dynamodb = LocalDynamoDB()
        self.spec: StackSpec | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ set-up
    def prepare(self) -> StackSpec:
        """Starts DynamoDB, reads the template with local values and sets the functions' environment."""
        env_file = _read_env_file(self._env_file)
        self.dynamodb.start()
        spec = read_stack(self.base_url, {**LOCAL_PARAMETERS, "PublicBaseUrl": self.base_url}, self._template)
        self.dynamodb.create_tables(spec.tables)
        environment: dict[str, str] = dict(LOCAL_DEFAULTS)
        for function in spec.functions.values():
            for name, value in function.environment.items():
                if environment.get(name, value) != value and name not in LOCAL_DEFAULTS:
                    log.warning("%s differs between functions; the local stack uses one value", name)
                environment[name] = value
        # This stack's own addresses (WEBSOCKET_URL, PUBLIC_BASE_URL) are facts about it: one left in the
        # environment by an earlier stack on another port must not win over them.
        own = {name for name, value in environment.items() if self.domain_name in value}
        for name in environment.keys() - own:
            if os.environ.get(name):  # the caller's own settings (an LLM key, a Twilio token) win
                environment[name] = os.environ[name]
        for values in env_file.values():
            environment.update(values)
        environment.update(
            {
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_SESSION_TOKEN": "local",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.dynamodb.endpoint_url,
            }
        )
        os.environ.update(environment)
        self.spec = spec
        return spec

    def app(self) -> Starlette:
        assert self.spec is not None, "prepare() first"
        routes: list[Any] = []
        stage = self.spec.websocket_stage
        if stage and self.spec.websocket_routes:
            routes += [
                Route(
                    f"/{stage}/@connections/{{connection_id:path}}",
                    self._manage,
                    methods=["GET", "POST", "DELETE"],
                ),
                WebSocketRoute(f"/{stage}", self._websocket),
            ]
        self._http_routes = sorted(
            ((_compile_route(r), r) for r in self.spec.http_routes), key=lambda item: _specificity(item[1])
        )
        routes.append(
            Route(
                "/{path:path}",
                self._http,
                methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"],
            )
        )
        return Starlette(routes=routes)

    def start(self) -> None:
        """Serves on a background thread; returns once the port answers."""
        self.prepare()
        self._server = self._make_server()
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("local stack did not start")
            time.sleep(0.01)

    def serve_forever(self, on_started: Callable[[], None] = lambda: None) -> None:
        """Serves in the foreground until Ctrl-C (uvicorn handles the signal and shuts down cleanly).
        `on_started` runs once uvicorn serves: only from then on is Ctrl-C uvicorn's to handle. Before it,
        Python's default handler raises KeyboardInterrupt wherever the main thread is, even inside the
        construction of uvicorn's event loop, which then fails again when it is collected."""
        if self.spec is None:
            self.prepare()
        self._server = self._make_server(on_started)
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self.dynamodb.stop()

    def stop_serving(self) -> None:
        """Asks the server to shut down gracefully (what Ctrl-C does)."""
        if self._server is not None:
            self._server.should_exit = True

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.dynamodb.stop()
        self._socket.close()

    def _make_server(self, on_started: Callable[[], None] = lambda: None) -> uvicorn.Server:
        config = uvicorn.Config(
            self.app(),
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            ws_max_size=WEBSOCKET_MAX_MESSAGE_BYTES,
            timeout_graceful_shutdown=3,
        )
        return _Server(config, on_started)

    # ------------------------------------------------------------------ invocation
    def _handler(self, function: FunctionSpec) -> Handler:
        handler = self._handlers.get(function.logical_id)
        if handler is None:
            handler = self._handlers[function.logical_id] = load_handler(function)
        return handler

    async def _invoke(self, function_id: str, event: dict) -> Any:
        """Calls the handler on a worker thread; raises what the handler raised."""
        assert self.spec is not None
        function = self.spec.functions[function_id]

        def call() -> Any:
            return self._handler(function)(event, LambdaContext(function))

        with anyio.fail_after(min(function.timeout_s, HTTP_INTEGRATION_TIMEOUT_S)):
            return await anyio.to_thread.run_sync(call, limiter=self._limiter, abandon_on_cancel=True)

    @staticmethod
    def _report_failure(function_id: str) -> None:
        print(f"[{function_id}] invocation failed:\n{traceback.format_exc()}", file=sys.stderr)

    # ------------------------------------------------------------------ HTTP API
    async def _http(self, request: Request) -> Response:
        assert self.spec is not None
        cors = self.spec.cors
        if cors is not None and request.method == "OPTIONS":
            preflight = cors.preflight(request.headers)  # answered by API Gateway: no route, no auth
            if preflight is not None:
                return Response(status_code=204, headers=preflight)
        return await self._route(request)

    async def _route(self, request: Request) -> Response:
        path = request.url.path
        for pattern, route in self._http_routes:
            match = pattern.match(path)
            if match and route.method in (request.method, "ANY"):
                break
        else:
            return JSONResponse({"message": "Not Found"}, status_code=404)
        event = events.http_event(
            method=request.method,
            path=path,
            raw_query=request.url.query,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
            body=await request.body(),
            route_key=route.route_key,
            path_parameters=match.groupdict(),
            domain_name=self.domain_name,
            source_ip=request.client.host if request.client else "127.0.0.1",
        )
        if route.authorizer is not None:
            denied = await self._authorize(route, event)
            if denied is not None:
                return denied
        try:
            result = await self._invoke(route.function, event)
        except Exception:
            self._report_failure(route.function)
            return JSONResponse({"message": "Internal Server Error"}, status_code=500)
        response = _http_response(result)
        if self.spec is not None and self.spec.cors is not None:  # on the integration's response
            self.spec.cors.decorate(response.headers, request.headers.get("origin"))
        return response

    async def _authorize(self, route: HttpRoute, event: dict) -> Response | None:
        """What API Gateway does before the integration: 401 without the identity, 403 when refused."""
        authorizer = route.authorizer
        assert authorizer is not None
        identity = [event["headers"].get(name, "") for name in authorizer.identity_headers]
        if not all(identity):
            return JSONResponse({"message": "Unauthorized"}, status_code=401)
        key = (authorizer.name, *identity)
        cached = self._authorizations.get(key)
        if cached is None or cached[0] < time.monotonic():
            request = events.authorizer_event(event, identity)
            try:
                result = await self._invoke(authorizer.function, request)
            except Exception:
                self._report_failure(authorizer.function)
                return JSONResponse({"message": "Internal Server Error"}, status_code=500)
            cached = (time.monotonic() + authorizer.ttl_s, result if isinstance(result, dict) else {})
            self._authorizations[key] = cached
        if cached[1].get("isAuthorized") is not True:
            return JSONResponse({"message": "Forbidden"}, status_code=403)
        event["requestContext"]["authorizer"] = {"lambda": cached[1].get("context") or {}}
        return None

    # ------------------------------------------------------------------ WebSocket API
    def _ws_event(self, route_key: str, connection_id: str, connection: _Connection, **extra: Any) -> dict:
        assert self.spec is not None and self.spec.websocket_stage
        return events.websocket_event(
            route_key=route_key,
            connection_id=connection_id,
            stage=self.spec.websocket_stage,
            domain_name=self.domain_name,
            source_ip=connection.source_ip,
            user_agent=connection.user_agent,
            connected_at_ms=int(connection.connected_at * 1000),
            **extra,
        )

    async def _websocket(self, websocket: WebSocket) -> None:
        assert self.spec is not None
        routes = self.spec.websocket_routes
        connection_id = base64.b64encode(secrets.token_bytes(9)).decode("ascii")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in websocket.scope["headers"]]
        connection = _Connection(
            socket=websocket,
            connected_at=time.time(),
            source_ip=websocket.client.host if websocket.client else "127.0.0.1",
            user_agent=websocket.headers.get("user-agent", ""),
        )
        if "$connect" in routes:
            event = self._ws_event(
                "$connect",
                connection_id,
                connection,
                headers=headers,
                raw_query=websocket.url.query,
            )
            try:
                result = await self._invoke(routes["$connect"], event)
                status = result.get("statusCode", 200) if isinstance(result, dict) else 200
            except Exception:
                self._report_failure(routes["$connect"])
                status = 500
            if not 200 <= int(status) < 300:
                await websocket.send_denial_response(Response(status_code=int(status)))
                return
        self._connections[connection_id] = connection
        await websocket.accept()
        tasks: set[asyncio.Task] = set()
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                connection.last_active = time.time()
                body = message.get("text") if message.get("text") is not None else message.get("bytes")
                task = asyncio.create_task(self._on_message(connection_id, connection, body))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except WebSocketDisconnect:
            pass
        finally:
            self._connections.pop(connection_id, None)
            if tasks:
                await asyncio.wait(tasks, timeout=HTTP_INTEGRATION_TIMEOUT_S)
            if "$disconnect" in routes:
                try:
                    await self._invoke(
                        routes["$disconnect"], self._ws_event("$disconnect", connection_id, connection)
                    )
                except Exception:
                    self._report_failure(routes["$disconnect"])

    async def _on_message(
        self, connection_id: str, connection: _Connection, body: str | bytes | None
    ) -> None:
        assert self.spec is not None
        function = self.spec.websocket_routes.get("$default")
        if function is None:
            return
        event = self._ws_event("$default", connection_id, connection, body=body)
        try:
            await self._invoke(function, event)
            # With no route response configured, API Gateway sends nothing back, whatever was returned.
        except Exception:
            self._report_failure(function)
            error = {
                "message": "Internal server error",
                "connectionId": connection_id,
                "requestId": event["requestContext"]["requestId"],
            }
            await self._send(connection, json.dumps(error))

    async def _send(self, connection: _Connection, data: bytes | str) -> bool:
        async with connection.send_lock:
            try:
                if isinstance(data, bytes):
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        await connection.socket.send_bytes(data)
                        return True
                else:
                    text = data
                await connection.socket.send_text(text)
                return True
            except (WebSocketDisconnect, RuntimeError):
                return False

    # ------------------------------------------------------------------ @connections management API
    async def _manage(self, request: Request) -> Response:
        connection_id = request.path_params["connection_id"]
        connection = self._connections.get(connection_id)
        if connection is None:
            return _gone()
        if request.method == "POST":
            data = await request.body()
            if len(data) > WEBSOCKET_MAX_MESSAGE_BYTES:
                return JSONResponse(
                    {"message": "Message too long"},
                    status_code=413,
                    headers={"x-amzn-ErrorType": "PayloadTooLargeException"},
                )
            return Response(status_code=200) if await self._send(connection, data) else _gone()
        if request.method == "DELETE":
            self._connections.pop(connection_id, None)
            async with connection.send_lock:
                await connection.socket.close(code=1000)
            return Response(status_code=204)
        return JSONResponse(
            {
                "connectedAt": _iso(connection.connected_at),
                "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
                "lastActiveAt": _iso(connection.last_active),
            }
        )


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _gone() -> Response:
    return JSONResponse({"message": None}, status_code=410, headers={"x-amzn-ErrorType": "GoneException"})


def _http_response(result: Any) -> Response:
    """Maps a handler's return value to HTTP the way HTTP API payload 2.0 does."""
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return Response(body, status_code=200, media_type="application/json")
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(content, status_code=int(result["statusCode"]))
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for cookie in result.get("cookies") or []:
        response.headers.append("set-cookie", cookie)
    return response
