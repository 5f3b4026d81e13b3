"""OpenAI-Responses upstreams (OpenAI itself): the real gpt-5 stream from wire-samples replayed
through the native passthrough (reader -> hub -> Responses writer) and, as the same answer from
a chat provider, through the chat reader; both must accumulate to the stream's own final output.
"""

from __future__ import annotations

import json

import pytest

from fcc.core.catalog import CATALOG
from fcc.core.dialects.openai_chat_stream import OpenAIChatReader
from fcc.core.dialects.openai_responses_stream import OpenAIResponsesReader, passthrough_body
from fcc.core.dialects.responses_request import thinking_block, translate_responses_request
from fcc.core.dialects.responses_stream import ResponsesWriter
from fcc.core.tools import encode_state
from tests.protocol.test_responses_stream import decode
from tests.support.upstream_responses import SSE_DONE, openai_chunk, openai_usage_chunk, sse_data
from tests.support.wire_samples import load_samples

SAMPLE = "openai-responses-reasoning-summary-function-call-stream.txt"


def sample_body() -> bytes:
    [sample] = [s for s in load_samples() if s.file == SAMPLE]
    return sample.body


def original_final(body: bytes) -> dict:
    return [e for e in decode([body]) if e["type"] == "response.completed"][0]["response"]


def through(reader, body: bytes, split: int | None) -> dict:
    writer = ResponsesWriter("gpt-5.5")
    chunks = [body] if split is None else [body[i:i + split] for i in range(0, len(body), split)]
    out: list[bytes] = []
    out += writer.feed(reader.emitter.start_message())
    for chunk in chunks:
        out += writer.feed(reader.feed(chunk))
    out += writer.feed(reader.finish())
    events = decode(out)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed", events[-1]
    return events[-1]["response"]


def essentials(response: dict) -> list[tuple]:
    """What Codex keeps of a response: item kinds, text, calls (ids and ordering aside)."""
    out: list[tuple] = []
    for item in response["output"]:
        kind = item["type"]
        if kind == "reasoning":
            out.append((kind, "".join(part["text"] for part in item.get("summary") or [])))
        elif kind == "message":
            out.append((kind, "".join(part.get("text", "") for part in item["content"])))
        elif kind == "function_call":
            out.append((kind, item["call_id"], item["name"], json.loads(item["arguments"])))
    return out


@pytest.mark.parametrize("split", [None, 97])
def test_the_real_stream_through_the_passthrough_keeps_its_final_output(split) -> None:
    body = sample_body()
    original = original_final(body)
    final = through(OpenAIResponsesReader("gpt-5.5"), body, split)
    assert essentials(final) == essentials(original)
    assert [k for k, *_ in essentials(final)] == ["reasoning", "function_call"]
    usage = original["usage"]
    assert final["usage"]["input_tokens"] == usage["input_tokens"]
    assert final["usage"]["output_tokens"] == usage["output_tokens"]
    assert final["usage"]["total_tokens"] == usage["total_tokens"]
    # OpenAI's encrypted reasoning reaches Codex wrapped, and goes back to OpenAI as it was.
    # (Codex keeps the item of output_item.done; OpenAI's completed event carries another encryption.)
    original_encrypted = next(e["item"]["encrypted_content"] for e in decode([body])
                              if e["type"] == "response.output_item.done" and e["item"]["type"] == "reasoning")
    echoed = {"model": "gpt-5.5", "input": [final["output"][0]]}
    assert passthrough_body(echoed, "gpt-5")["input"][0]["encrypted_content"] == original_encrypted
    assert thinking_block(final["output"][0])["thinking"] == essentials(original)[0][1]


def chat_equivalent(response: dict) -> bytes:
    """The same answer as a chat provider would stream it: reasoning_content, then the call."""
    reasoning, call = essentials(response)
    frames = [openai_chunk({"role": "assistant", "content": ""})]
    text = reasoning[1]
    frames += [openai_chunk({"reasoning_content": text[i:i + 40]}) for i in range(0, len(text), 40)]
    arguments = json.dumps(call[3])
    frames.append(openai_chunk({"tool_calls": [{"index": 0, "id": call[1], "type": "function",
                                                "function": {"name": call[2], "arguments": arguments}}]}))
    frames.append(openai_chunk({}, finish_reason="tool_calls"))
    usage = response["usage"]
    frames.append(openai_usage_chunk({"prompt_tokens": usage["input_tokens"], "completion_tokens": usage["output_tokens"],
                                      "total_tokens": usage["total_tokens"]}))
    return b"".join(sse_data(frame) for frame in frames) + SSE_DONE


@pytest.mark.parametrize("split", [None, 61])
def test_the_same_answer_from_a_chat_provider_accumulates_to_the_same_output(split) -> None:
    original = original_final(sample_body())
    reader = OpenAIChatReader("gpt-5.5", CATALOG["deepseek"])
    final = through(reader, chat_equivalent(original), split)
    assert essentials(final) == essentials(original)
    assert final["usage"]["total_tokens"] == original["usage"]["total_tokens"]


def test_responses_reader_text_custom_calls_and_failures() -> None:
    def frame(kind: str, **fields) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n".encode()

    stream = b"".join([
        frame("response.created", response={"id": "r"}),
        frame("response.output_text.delta", item_id="m1", delta="Hi "),
        frame("response.output_text.delta", item_id="m1", delta="there"),
        frame("response.output_item.done", item={"id": "m1", "type": "message", "content": [{"type": "output_text", "text": "Hi there"}]}),
        frame("response.output_item.done", item={"id": "m2", "type": "message", "content": [{"type": "output_text", "text": "late"}]}),
        frame("response.output_item.done", item={"id": "c", "type": "custom_tool_call", "call_id": "k1", "name": "apply_patch", "input": "*** Begin"}),
        frame("response.output_item.done", item={"id": "f", "type": "function_call", "call_id": "k2", "name": "spawn_agent",
                                                 "namespace": "multi_agent_v1", "arguments": "{}"}),
        frame("response.incomplete", response={"usage": {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}}),
    ])
    reader = OpenAIResponsesReader("gpt-5.5")
    events = reader.feed(stream) + reader.finish()
    texts = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"]
    assert texts == ["Hi ", "there", "late"]  # a message without deltas still arrives, once
    tools = [e["content_block"] for e in events if e["type"] == "content_block_start" and e["content_block"]["type"] == "tool_use"]
    assert [(t["id"], t["name"]) for t in tools] == [("k1", "apply_patch"), ("k2", "multi_agent_v1__spawn_agent")]
    [delta] = [e for e in events if e["type"] == "message_delta"]
    assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"]["input_tokens"] == 9
    assert reader.error is None

    failing = OpenAIResponsesReader("gpt-5.5")
    events = failing.feed(frame("response.failed", response={"error": {"code": "rate_limit_exceeded", "message": "try again in 2s"}}))
    assert failing.error == ("rate_limit_error", "try again in 2s") and events[-1]["type"] == "error"
    cut = OpenAIResponsesReader("gpt-5.5")
    cut.feed(frame("response.output_text.delta", item_id="m", delta="x"))
    assert cut.finish()[-1]["type"] == "error" and cut.error is not None


def test_passthrough_body_restores_state_and_drops_other_providers_state() -> None:
    body = {"model": "gpt-5.5", "stream": False, "store": False, "input": [
        {"type": "reasoning", "summary": [], "encrypted_content": encode_state("signature", "gAAAA-original")},
        {"type": "reasoning", "summary": [], "encrypted_content": encode_state("redacted_thinking", "gAAAA-redacted")},
        {"type": "reasoning", "summary": [], "encrypted_content": encode_state("reasoning_details", [{"x": 1}])},
        {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-untouched"},
        {"type": "message", "role": "user", "content": "hi"}]}
    sent = passthrough_body(body, "gpt-5")
    assert sent["model"] == "gpt-5" and sent["stream"] is True and sent["store"] is False
    assert [i.get("encrypted_content") for i in sent["input"]] == ["gAAAA-original", "gAAAA-redacted", "gAAAA-untouched", None]
    assert body["input"][0]["encrypted_content"].startswith("fcc1."), "the client's body is not modified"
    # The same body still translates for every other provider.
    assert translate_responses_request(body).request["messages"][-1]["role"] == "user"
