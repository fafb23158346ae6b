"""The sender thread: coalescing while a post is in flight, `last: true`, and GoneException."""

import json
import threading

import boto3
from botocore.stub import Stubber

from kimiyi.adapters.websocket_sender import ConnectionGone
from kimiyi.relay.sender import StreamingSender, send


class GatedClient:
    """Records posts; each post waits for the test to open the gate, like a slow HTTPS round trip."""

    class exceptions:
        GoneException = type("GoneException", (Exception,), {})

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.gate = threading.Semaphore(0)
        self.started = 0
        self.changed = threading.Condition()

    def wait_for_posts(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.started >= count, timeout=10)

    def post_to_connection(self, ConnectionId: str, Data: bytes) -> None:
        with self.changed:
            self.started += 1
            self.changed.notify_all()
        assert self.gate.acquire(timeout=10)
        self.frames.append(json.loads(Data))


def test_text_sent_while_a_post_is_in_flight_leaves_as_one_frame():
    client = GatedClient()
    sender = StreamingSender(client, "c1", language="en-US")
    sender.speak("Sure!")
    assert client.wait_for_posts(1)  # the first clause went out at once
    for clause in [" Your appointment", " is at 3 pm", " tomorrow."]:
        sender.speak(clause)
    client.gate.release()  # the first post returns; everything that waited goes as the second frame
    assert client.wait_for_posts(2)
    client.gate.release()
    client.gate.release()
    sender.finish()
    assert [f["token"] for f in client.frames] == ["Sure!", " Your appointment is at 3 pm tomorrow.", ""]
    assert [f["last"] for f in client.frames] == [False, False, True]
    assert all(f["lang"] == "en-US" for f in client.frames)
    assert sender.frames_sent == 3 and sender.first_sent_at is not None


def _management_client():
    return boto3.client(
        "apigatewaymanagementapi",
        endpoint_url="https://abc.execute-api.us-east-1.amazonaws.com/dev",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_gone_connection_ends_the_turn_quietly():
    client = _management_client()
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        sender = StreamingSender(client, "c1")
        sender.speak("Hello")
        sender.speak(" there")
        sender.finish()
        assert sender.gone is True and sender.error is None
        assert sender.frames_sent == 0
        stub.assert_no_pending_responses()  # nothing more was posted after the 410


def test_post_raises_connection_gone_for_410_and_other_errors_as_they_are():
    client = _management_client()
    with Stubber(client) as stub:
        stub.add_client_error("post_to_connection", service_error_code="GoneException", http_status_code=410)
        stub.add_client_error(
            "post_to_connection", service_error_code="LimitExceededException", http_status_code=429
        )
        try:
            send(client, "c1", {"type": "text", "token": "x", "last": True})
        except ConnectionGone:
            pass
        else:
            raise AssertionError("410 did not raise ConnectionGone")
        try:
            send(client, "c1", {"type": "text", "token": "x", "last": True})
        except ConnectionGone:
            raise AssertionError("a 429 is not a hang-up") from None
        except client.exceptions.LimitExceededException:
            pass


def test_a_digits_frame_leaves_after_the_text_queued_before_it():
    client = GatedClient()
    sender = StreamingSender(client, "c1")
    sender.speak("Connecting you now.")
    assert client.wait_for_posts(1)
    sender.send_frame({"type": "sendDigits", "digits": "ww204#"})
    sender.speak(" One moment.")
    for _ in range(4):
        client.gate.release()
    sender.finish()
    kinds = [(f["type"], f.get("token", f.get("digits"))) for f in client.frames]
    assert kinds[:3] == [("text", "Connecting you now."), ("sendDigits", "ww204#"), ("text", " One moment.")]
    assert client.frames[-1]["last"] is True
