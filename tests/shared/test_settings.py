"""Settings read from the environment the way Compose passes it."""

import pytest
from pydantic import ValidationError

from shared.settings import FactorySettings, GatewaySettings, StoreSettings, WorkerSettings


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
