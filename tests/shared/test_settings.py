"""Settings read from the environment the way Compose passes it."""

import json
import os
import subprocess
import sys
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from shared.settings import FactorySettings, GatewaySettings, StoreSettings, WorkerSettings
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_blank_secrets_and_paths_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose turns `${PULSE_INTERNAL_TOKEN:-}` into an empty string when the user set nothing.
    for name in ("FACTORY_INTERNAL_TOKEN", "WORKER_FACTORY_TOKEN", "GATEWAY_API_KEY"):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("FACTORY_LLM_MODEL_PATH", " ")
    monkeypatch.setenv("FACTORY_PIPER_MODEL_PATH", "")
    factory = FactorySettings(_env_file=None)
    assert factory.internal_token is None
    assert factory.llm_model_path is None
    assert factory.piper_model_path is None
    assert WorkerSettings(_env_file=None).factory_token is None
    assert GatewaySettings(_env_file=None).api_key is None


def test_set_secret_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_INTERNAL_TOKEN", "s3cret")
    token = FactorySettings(_env_file=None).internal_token
    assert token is not None and token.get_secret_value() == "s3cret"


def test_blank_supabase_key_is_refused_for_the_supabase_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STORE_BACKEND", "supabase")
    monkeypatch.setenv("SUPABASE_URL", "https://example.supabase.co")
    monkeypatch.setenv("SUPABASE_SERVICE_KEY", "")
    with pytest.raises(ValidationError, match="SUPABASE_SERVICE_KEY"):
        StoreSettings(_env_file=None)


LISTS = [
    # (variable, as typed, as JSON, the settings object, its attribute, the values read)
    ("GATEWAY_CORS_ORIGINS", "http://a.example:3000, https://b.example", GatewaySettings,
     "cors_origins", ["http://a.example:3000", "https://b.example"]),
    ("GATEWAY_TRUSTED_PROXIES", "10.0.0.0/8,::1/128", GatewaySettings,
     "trusted_proxies", [IPv4Network("10.0.0.0/8"), IPv6Network("::1/128")]),
    ("FACTORY_TTS_ENGINES", "piper, espeak", FactorySettings, "tts_engines", ["piper", "espeak"]),
    ("FACTORY_REQUIRED_MODELS", "llm,embeddings", FactorySettings,
     "required_models", ["llm", "embeddings"]),
    ("FACTORY_VOICES", "en-US-AriaNeural,en-US-GuyNeural", FactorySettings,
     "voices", ["en-US-AriaNeural", "en-US-GuyNeural"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "typed", "cls", "attr", "expected"), LISTS)
def test_every_list_setting_takes_commas_or_json(
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    typed: str,
    cls: type[BaseSettings],
    attr: str,
    expected: list[object],
) -> None:
    monkeypatch.setenv(name, typed)
    assert getattr(cls(_env_file=None), attr) == expected
    monkeypatch.setenv(name, json.dumps([str(v) for v in expected]))
    assert getattr(cls(_env_file=None), attr) == expected


def test_the_scrape_allow_list_takes_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_SCRAPE_ALLOWED_NETWORKS", "127.0.0.0/8, 192.168.0.0/16")
    got = GatewaySettings(_env_file=None).scrape.allowed_networks
    assert got == [IPv4Network("127.0.0.0/8"), IPv4Network("192.168.0.0/16")]


def test_a_blank_list_setting_keeps_its_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACTORY_TTS_ENGINES", "")
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", " ")
    assert FactorySettings(_env_file=None).tts_engines == ["edge", "piper", "espeak"]
    assert GatewaySettings(_env_file=None).cors_origins == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("https://App.Example/", ["https://app.example"]),
        ("http://127.0.0.1:3000/", ["http://127.0.0.1:3000"]),
        ("http://[::1]:8080", ["http://[::1]:8080"]),
        ("*", ["*"]),
    ],
)
def test_origins_are_normalized_as_browsers_send_them(
    monkeypatch: pytest.MonkeyPatch, typed: str, expected: list[str]
) -> None:
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", typed)
    assert GatewaySettings(_env_file=None).cors_origins == expected


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"GATEWAY_CORS_ORIGINS": "app.example"}, "invalid setting GATEWAY_CORS_ORIGINS: "),
        ({"GATEWAY_CORS_ORIGINS": "ftp://app.example"}, "invalid setting GATEWAY_CORS_ORIGINS: "),
        ({"GATEWAY_CORS_ORIGINS": "https://app.example/app"}, "no path"),
        ({"GATEWAY_CORS_ORIGINS": "http://app.example:99999"}, "port"),
        ({"GATEWAY_CORS_ORIGINS": '["https://a.example"'}, "not a JSON list"),
        ({"GATEWAY_TRUSTED_PROXIES": "proxy.internal"}, "invalid setting GATEWAY_TRUSTED_PROXIES"),
        (
            {"GATEWAY_SCRAPE_ALLOWED_NETWORKS": "intranet"},
            "invalid setting GATEWAY_SCRAPE_ALLOWED_NETWORKS",
        ),
    ],
)
def test_a_bad_setting_stops_the_gateway_with_one_line_naming_it(
    env: dict[str, str], said: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway"],
        cwd=ROOT,
        env={**os.environ, **env, "GATEWAY_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], done.stderr  # no traceback
    assert lines[0].startswith("invalid setting ")


def test_a_bad_list_stops_the_factory_and_the_worker_with_one_line() -> None:
    for module, env in (
        ("factory", {"FACTORY_TTS_ENGINES": "piper,festival"}),
        ("worker", {"JOBS_TIMEOUT_S": "5"}),
    ):
        done = subprocess.run(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert lines[0].startswith(f"invalid setting {next(iter(env))}: "), lines
