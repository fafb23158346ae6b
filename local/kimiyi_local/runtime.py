"""Runs a template function's handler in process, the way the Lambda runtime calls it."""

from __future__ import annotations

import importlib
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from .template import ACCOUNT_ID, REGION, FunctionSpec

Handler = Callable[[dict, Any], Any]


class LambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function: FunctionSpec) -> None:
        self.function_name = function.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function.logical_id}"
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.logical_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


_import_lock = threading.Lock()


def load_handler(function: FunctionSpec) -> Handler:
    """Imports the handler module from the function's own folder, as the Lambda runtime does."""
    with _import_lock:
        code_dir = str(function.code_dir)
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        module = importlib.import_module(function.module)
    return getattr(module, function.attribute)
