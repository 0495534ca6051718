"""Configuration errors name the file, the key and what would be valid."""

from __future__ import annotations

import pytest

from segmint.config import load_config
from segmint.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "segmint.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, key, hint",
    [
        ("sourcez: []\n", "sourcez", "valid keys here: store, sources"),
        ("imports:\n  orders:\n    type: track\n    event: X\n    user_id: c\n    colour: red\n",
         "imports.orders.colour", "valid keys here: match, type"),
        ("imports:\n  orders:\n    type: purchase\n    user_id: c\n", "imports.orders.type", "'identify'"),
        ("server:\n  port: 99999\n", "server.port", "65535"),
        ("imports:\n  orders:\n    type: track\n    user_id: c\n", "imports.orders", "needs `event`"),
        ("sources:\n  - name: a\n    write_key: k\n  - name: b\n    write_key: k\n", "sources", "own"),
        ("identity:\n  limits:\n    user_id: 0\n", "identity.limits", "at least 1"),
    ],
)
def test_errors_name_file_key_and_fix(tmp_path, text, key, hint):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}:"), message
    assert hint in message, message


def test_broken_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "sources:\n  - name: [\n")
    with pytest.raises(ConfigError, match=r"line \d+: not valid YAML"):
        load_config(path)


def test_a_missing_explicit_file_is_an_error_but_no_default_file_is_fine(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_config(env={}).sources == ()


def test_keys_come_from_the_environment(tmp_path):
    path = write(tmp_path, "sources:\n  - name: web\n    write_key: wk\nsecret_key: from-file\n")
    config = load_config(path, env={"SEGMINT_WRITE_KEY": "env-key", "SEGMINT_SECRET_KEY": "env-secret"})
    assert config.source_for_key("env-key").name == "default"
    assert config.source_for_key("wk").name == "web"
    assert config.secret_key == "env-secret"
    same = load_config(path, env={"SEGMINT_WRITE_KEY": "wk"})
    assert len(same.sources) == 1
