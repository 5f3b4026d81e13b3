"""Which stream reader reads a provider's answers: one table, keyed by the profile's transport."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fcc.core.dialects.anthropic_native import AnthropicSSEReader
from fcc.core.dialects.base import StreamReader, StreamSetup
from fcc.core.dialects.openai_chat_stream import OpenAIChatReader
from fcc.core.dialects.openai_responses_stream import OpenAIResponsesReader
from fcc.core.text_tools import recogniser_for


def _openai_chat(setup: StreamSetup) -> StreamReader:
    text_tools = recogniser_for(setup.profile.text_tool_calls, setup.upstream_model, setup.request)
    return OpenAIChatReader(setup.client_model, setup.profile, message_id=setup.message_id,
                            input_tokens=setup.input_tokens, text_tools=text_tools,
                            message_started=setup.message_started)


def _anthropic_messages(setup: StreamSetup) -> StreamReader:
    return AnthropicSSEReader(setup.client_model, setup.input_tokens, message_started=setup.message_started)


def _openai_responses(setup: StreamSetup) -> StreamReader:
    return OpenAIResponsesReader(setup.client_model, setup.message_id, setup.input_tokens,
                                 message_started=setup.message_started)


READERS: Mapping[str, Callable[[StreamSetup], StreamReader]] = {
    "openai_chat": _openai_chat,
    "anthropic_messages": _anthropic_messages,
    "openai_responses": _openai_responses,
}


def reader_for(setup: StreamSetup) -> StreamReader:
    """A new reader for one answer of `setup.profile`'s provider."""
    try:
        make = READERS[setup.profile.transport]
    except KeyError:
        raise ValueError(f"no stream reader for transport {setup.profile.transport!r}") from None
    return make(setup)
