"""Reading an LLM stream in tests without ever hanging the run."""

from __future__ import annotations

import threading

from kimiyi.llm import FailoverStream


def consume(stream: FailoverStream, timeout_s: float = 15) -> str:
    """Reads the whole stream in a thread; a stream that never ends fails the test instead of hanging it."""
    deltas: list[str] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            deltas.extend(stream)
        except BaseException as error:
            errors.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    assert not reader.is_alive(), "the stream did not finish"
    assert not errors, errors
    assert stream.result.finished
    return "".join(deltas)
