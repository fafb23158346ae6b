"""Streaming LLM providers behind one interface, and the failover chain that keeps a call from going silent.

chain = chain_from_env(os.environ)            # once per process: clients and breakers live in it
stream = chain.stream(messages, max_tokens=150, temperature=0.3,
                      context=ScriptContext(language="zh-HK", scripted_line=node_line,
                                            holding_phrase=holding_phrase_for))  # kimiyi.languages
for delta in stream: send(delta)
stream.result  # provider, failures, first_token_ms, chunks_sent, dropped
"""

from .azure_endpoint import DEFAULT_AZURE_API_VERSION, AzureTarget, parse_azure_endpoint
from .base import DEFAULT_HOLDING_PHRASE, LLMProvider, Message, ProviderTimeouts, ScriptContext
from .breaker import BreakerSettings, CircuitBreaker
from .config import (
    KEY_STAND_IN,
    chain_from_env,
    env_with_key_stand_ins,
    env_with_secrets,
    providers_from_env,
)
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    LLMConfigError,
    MalformedChunkError,
    RateLimitError,
    ReplyCutShort,
)
from .failover import FailedAttempt, FailoverChain, FailoverStream, FailureReason, StreamResult
from .providers import AzureOpenAIProvider, CompatibleProvider, OpenAIChatProvider, OpenAIProvider
from .scripted import ScriptedProvider
from .tokens import split_into_tokens

__all__ = [
    "DEFAULT_AZURE_API_VERSION",
    "DEFAULT_HOLDING_PHRASE",
    "KEY_STAND_IN",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AzureOpenAIProvider",
    "AzureTarget",
    "BreakerSettings",
    "CircuitBreaker",
    "CompatibleProvider",
    "FailedAttempt",
    "FailoverChain",
    "FailoverStream",
    "FailureReason",
    "LLMConfigError",
    "LLMProvider",
    "MalformedChunkError",
    "Message",
    "OpenAIChatProvider",
    "OpenAIProvider",
    "ProviderTimeouts",
    "RateLimitError",
    "ReplyCutShort",
    "ScriptContext",
    "ScriptedProvider",
    "StreamResult",
    "chain_from_env",
    "env_with_key_stand_ins",
    "env_with_secrets",
    "parse_azure_endpoint",
    "providers_from_env",
    "split_into_tokens",
]
