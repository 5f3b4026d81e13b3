"""A bad route names where it came from: the routes.yaml key or the environment variable."""

from __future__ import annotations

import pytest

from fcc.config import ConfigError, load_config


@pytest.fixture
def routes_file(tmp_path):
    path = tmp_path / "routes.yaml"
    path.write_text("models:\n  haiku: nosuch/m\nfallbacks: []\n")
    return str(path)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "models.haiku: unknown provider 'nosuch'"),
        ({"MODEL_HAIKU": "alsonot/m"}, "MODEL_HAIKU: unknown provider 'alsonot'"),
        ({"MODEL_HAIKU": "ollama/m", "MODEL": "bogus/m"}, "MODEL: unknown provider 'bogus'"),
        ({"MODEL_HAIKU": "ollama/m", "MODEL_FALLBACKS": "ollama/a, bogus/b"}, "MODEL_FALLBACKS: unknown provider 'bogus'"),
    ],
)
def test_unknown_provider_names_the_key_or_variable(routes_file: str, env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(routes_file, env)
    message = str(caught.value)
    assert message.startswith(names), message
    assert "\n" not in message
