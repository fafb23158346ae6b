"""TwiML for Twilio's voice webhook, built with twilio's helper (never by string): ConversationRelay for
stream mode, <Say>/<Gather>/<Hangup>/<Dial> for classic mode. Voices come from the language table."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from .adapters.call_records import CallRecords
from .adapters.calls_store import CallsStore, SessionExists
from .api_keys import DEFAULT_TENANT
from .languages import ClassicVoice, UnknownLanguageError, get_language, holding_phrase_for
from .observability import KeyedLog, mask_phone
from .staging import stage
from .webhooks import (
    CONNECT_ACTION,
    BadRequest,
    TwilioRequest,
    bad_request,
    inbound_tracking_id,
    read_request,
    signature_refusal,
    xml,
)
from .workflow import Workflow, WorkflowConfig, WorkflowError, parse_workflow

# Seconds of silence that end the caller's speech. An integer, not "auto": auto cuts callers off at the
# first pause, which in Cantonese and for people reading out numbers comes early.
SPEECH_TIMEOUT_S = 2
FALLBACK_LANGUAGE = "en-US"


def relay_attributes(config: WorkflowConfig, code: str) -> dict[str, str]:
    """ttsProvider, voice, transcriptionProvider, speechModel for `code` as snake_case helper arguments.

    The workflow's own voice/provider/model settings override the table for its main language only. A
    provider override without its voice (or model) drops the table's, which belongs to the other provider:
    Twilio hangs up on a provider/voice pair it does not know, and picks a default when none is given.
    """
    table = get_language(code).relay
    chosen: dict[str, str | None] = {
        "tts_provider": table.tts_provider,
        "voice": table.voice,
        "transcription_provider": table.transcription_provider,
        "speech_model": table.speech_model,
    }
    if get_language(config.language).code == get_language(code).code:
        if config.tts_provider and config.tts_provider != table.tts_provider:
            chosen.update(tts_provider=config.tts_provider, voice=None)
        if config.voice:
            chosen["voice"] = config.voice
        if config.transcription_provider and config.transcription_provider != table.transcription_provider:
            chosen.update(transcription_provider=config.transcription_provider, speech_model=None)
        if config.speech_model:
            chosen["speech_model"] = config.speech_model
    return {name: value for name, value in chosen.items() if value is not None and value}


def conversation_relay(
    *, config: WorkflowConfig, greeting: str, tracking_id: str, websocket_url: str, action_url: str
) -> str:
    """<Connect action><ConversationRelay …> with a <Language> for every language the call may use.

    Codes are the language table's canonical ones ("yue" -> "zh-HK"), which the providers accept.
    """
    main = get_language(config.language).code
    response = VoiceResponse()
    connect = response.connect(action=action_url, method="POST")
    relay = connect.conversation_relay(
        url=f"{websocket_url}?{urlencode({'trackingId': tracking_id})}",
        welcome_greeting=greeting or None,
        language=main,
        interruptible=config.interruptible,
        welcome_greeting_interruptible=config.welcome_greeting_interruptible,
        interrupt_sensitivity=config.interrupt_sensitivity,
        dtmf_detection=config.dtmf_detection,
        hints=",".join(config.hints) or None,
        **relay_attributes(config, main),
    )
    for code in dict.fromkeys(get_language(code).code for code in config.all_languages):
        relay.language(code=code, **relay_attributes(config, code))
    relay.parameter(name="trackingId", value=tracking_id)
    return response.to_xml()


# ---------------------------------------------------------------------------------------------- classic
def classic_voice(code: str) -> ClassicVoice:
    """The <Say>/<Gather> voice for `code`; US English when the code is unknown, so the call is not silent."""
    try:
        return get_language(code).classic
    except (UnknownLanguageError, TypeError):
        return get_language(FALLBACK_LANGUAGE).classic


def _say(parent, text: str, voice: ClassicVoice) -> None:
    if text.strip():
        parent.say(text.strip(), voice=voice.say_voice, language=voice.say_language)


def gather(
    *,
    text: str,
    language: str,
    action_url: str,
    hints: Iterable[str] = (),
    dtmf: bool = True,
    num_digits: int | None = None,
    barge_in: bool = True,
) -> str:
    """Says `text` and listens for the caller's next turn, posted to `action_url` even when empty.

    With barge-in the <Say> is nested in the <Gather>, so speaking or pressing a key cuts it short; without,
    it is said in full first.
    """
    voice = classic_voice(language)
    response = VoiceResponse()
    if not barge_in:
        _say(response, text, voice)
    listen = response.gather(
        input="speech dtmf" if dtmf else "speech",
        action=action_url,
        method="POST",
        language=voice.gather_language,
        speech_model=voice.gather_speech_model,
        speech_timeout=SPEECH_TIMEOUT_S,
        hints=",".join(hints) or None,
        num_digits=num_digits,
        action_on_empty_result=True,  # silence posts too: we re-prompt, then say goodbye
    )
    if barge_in:
        _say(listen, text, voice)
    return response.to_xml()


def say_and_hangup(text: str, language: str) -> str:
    response = VoiceResponse()
    _say(response, text, classic_voice(language))
    response.hangup()
    return response.to_xml()


def say_and_dial(text: str, number: str, language: str) -> str:
    response = VoiceResponse()
    _say(response, text, classic_voice(language))
    response.dial(number)
    return response.to_xml()


# ---------------------------------------------------------------------------------------------- the webhook
UNKNOWN_CALL_LINE = "Sorry, this call can't be continued. Goodbye."
NOT_IN_SERVICE_LINE = "Thank you for calling. Nobody can take your call on this number right now. Goodbye."


@lru_cache(maxsize=64)
def workflow_of(snapshot: str) -> Workflow:
    """The session's workflow, parsed once per snapshot (sessions store it as a JSON string)."""
    return parse_workflow(json.loads(snapshot))


class ClassicTurns(Protocol):
    def answer(self, request: TwilioRequest, tracking_id: str, session: Mapping[str, Any]) -> str: ...


class TwimlWebhook:
    """POST /api/twiml-optimized: the signed voice webhook, answered in stream or classic mode.

    Stream mode answers ConversationRelay TwiML; classic mode (the session's mode, `?mode=classic`, or no
    WebSocket URL configured) hands the request to the classic Gather turns. Calls with no trackingId are
    inbound: the number's configured workflow is staged for them.
    """

    def __init__(
        self,
        *,
        store: CallsStore,
        records: CallRecords,
        classic: ClassicTurns,
        auth_token: Callable[[], str],
        public_base_url: str,
        websocket_url: str,
        logger: KeyedLog,
    ) -> None:
        self.store = store
        self.records = records
        self.classic = classic
        self.auth_token = auth_token
        self.public_base_url = public_base_url
        self.websocket_url = websocket_url
        self.log = logger

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            request = read_request(event, self.public_base_url)
        except BadRequest as error:
            self.log.warning("refused a malformed webhook", extra={"problem": str(error)})
            return bad_request(str(error))
        refusal = signature_refusal(request, self.auth_token, self.log)
        if refusal is not None:
            return refusal
        try:
            return xml(self._answer(request))
        except BadRequest as error:
            self.log.warning("refused a signed webhook", extra={"problem": str(error)})
            return bad_request(str(error))
        except Exception:  # Twilio would play its own "application error": say something and hang up
            self.log.exception("the voice webhook failed")
            return xml(say_and_hangup(holding_phrase_for(FALLBACK_LANGUAGE), FALLBACK_LANGUAGE))

    def _answer(self, request: TwilioRequest) -> str:
        call_sid = request.required("CallSid")
        tracking_id = request.query.get("trackingId", "")
        self.log.append_keys(callSid=call_sid)
        if tracking_id:
            self.log.append_keys(trackingId=tracking_id)
            session = self.store.get_session(tracking_id)
            if session is None:
                self.log.warning("webhook for an unknown or expired trackingId")
                return say_and_hangup(UNKNOWN_CALL_LINE, FALLBACK_LANGUAGE)
        else:
            tracking_id = inbound_tracking_id(call_sid)
            session = self._inbound_session(request, tracking_id)
            if session is None:
                return say_and_hangup(NOT_IN_SERVICE_LINE, FALLBACK_LANGUAGE)
            self.log.append_keys(trackingId=tracking_id)
        language = FALLBACK_LANGUAGE
        try:
            workflow = workflow_of(session["workflow"])
            language = workflow.config.language
            classic = session.get("mode") == "classic" or request.query.get("mode") == "classic"
            if classic or not self.websocket_url:
                return self.classic.answer(request, tracking_id, session)
            return conversation_relay(
                config=workflow.config,
                greeting=session.get("greeting", ""),
                tracking_id=tracking_id,
                websocket_url=self.websocket_url,
                action_url=request.url_for("/api/call-status", trackingId=tracking_id, event=CONNECT_ACTION),
            )
        except BadRequest:
            raise
        except Exception:
            self.log.exception("the voice webhook failed")
            return say_and_hangup(holding_phrase_for(language), language)

    def _inbound_session(self, request: TwilioRequest, tracking_id: str) -> dict[str, Any] | None:
        """The session of an inbound call: staged on its first webhook from the number's template."""
        session = self.store.get_session(tracking_id)
        if session is not None:  # a retried webhook: staged already
            return session
        called = request.required("To")
        template = self.records.inbound_template(called)
        if template is None:
            self.log.info("inbound call to a number with no workflow", extra={"to": mask_phone(called)})
            return None
        try:
            staged = stage(
                parse_workflow(template["workflow"]),
                variables=template.get("variables"),
                mode=template.get("mode", "stream"),
                to=called,
                from_=request.form.get("From", ""),
                workflow_id=template.get("workflowId", ""),
                tracking_id=tracking_id,
                tenant_id=template.get("tenantId") or DEFAULT_TENANT,
            )
        except (WorkflowError, ValueError, KeyError, TypeError):
            self.log.exception(
                "the inbound workflow of this number is invalid", extra={"to": mask_phone(called)}
            )
            return None
        record = staged.to_record()
        try:
            self.store.put_session(tracking_id, record)
        except SessionExists:  # a concurrent retry staged it first: use theirs
            return self.store.get_session(tracking_id)
        return record
