"""`fcc doctor` says which tool-call dialects written as text are recovered, per provider and per route."""

from __future__ import annotations

import io
from pathlib import Path

from fcc.core.catalog import CATALOG
from fcc.doctor import doctor_main


def test_doctor_shows_text_tool_settings_and_each_route(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text(
        "models:\n"
        "  default: {model: ollama/qwen3-coder:30b, text_tool_calls: [qwen3_coder]}\n"
        "  haiku: llamacpp/devstral-small\n"
        "  opus: {model: vllm/any, text_tool_calls: off}\n"
    )
    out = io.StringIO()
    assert doctor_main([], catalog=dict(CATALOG), environ={"FCC_CONFIG": str(routes)}, out=out) == 0
    text = out.getvalue()
    assert "every dialect: vllm, lmstudio, llamacpp, ollama" in text
    assert "route default -> ollama/qwen3-coder:30b: qwen3_coder" in text
    assert "route haiku -> llamacpp/devstral-small: hermes, qwen3_coder, glm, mistral, llama, json, deepseek, minimax, step, kimi" in text
    assert "route opus -> vllm/any: none" in text
    assert "dialect mistral      [TOOL_CALLS]" in text


def test_doctor_reports_a_broken_routes_file_in_one_line(tmp_path: Path) -> None:
    routes = tmp_path / "routes.yaml"
    routes.write_text("models:\n  default: {model: ollama/x, text_tool_calls: [nonsense]}\n")
    out = io.StringIO()
    doctor_main([], catalog=dict(CATALOG), environ={"FCC_CONFIG": str(routes)}, out=out)
    [line] = [line for line in out.getvalue().splitlines() if "routes: not loaded" in line]
    assert "nonsense" in line
