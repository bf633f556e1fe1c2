"""What the deployment files promise: the Compose mesh as Compose itself resolves it, every
setting documented, images pinned to the same versions as the project."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import compose
import pytest
from pydantic import AliasChoices

from shared.settings import (
    FactorySettings,
    GatewaySettings,
    JobSettings,
    ScrapeSettings,
    StoreSettings,
    WorkerSettings,
)

ROOT = Path(__file__).parents[1]
COMPOSE = Path(compose.__file__).parent / "docker-compose"  # the binary, not its wrapper


def resolved(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`docker compose config` as JSON, without this machine's .env."""
    run = subprocess.run(
        [str(COMPOSE), "--env-file", "/dev/null", "-f", "compose.yaml", *args, "config",
         "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, env=env or {"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    config: dict[str, Any] = json.loads(run.stdout)
    return config


def setting_names() -> list[str]:
    names = []
    classes = (FactorySettings, GatewaySettings, ScrapeSettings, WorkerSettings, StoreSettings)
    for cls in (*classes, JobSettings):
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            if name in ("scrape", "store", "jobs"):  # nested settings, listed on their own
                continue
            alias = field.validation_alias
            names.append(alias.choices[-1] if isinstance(alias, AliasChoices) else prefix + name)
    return [str(n).upper() for n in names]


def test_the_mesh_as_compose_resolves_it() -> None:
    raw = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"^version:", raw, re.M), "the Compose spec has no version key"
    assert "container_name" not in raw, "replicas need generated container names"
    services = resolved()["services"]
    assert set(services) == {"redis", "factory", "worker", "gateway"}

    assert services["redis"]["healthcheck"]["test"][-1] == "ping"
    factory = services["factory"]
    assert factory["healthcheck"]["test"][-2:] == ["shared.healthcheck", "factory"]
    assert factory["deploy"]["resources"]["limits"]["memory"]
    assert any(v["type"] == "volume" and v["target"] == "/models" for v in factory["volumes"])
    assert "ports" not in factory, "the factory is internal"

    worker = services["worker"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert worker["depends_on"]["factory"]["condition"] == "service_healthy"
    assert worker["deploy"]["replicas"] == 2
    assert worker["environment"]["WORKER_FACTORY_URL"] == "http://factory:7860"

    gateway = services["gateway"]
    assert gateway["ports"][0]["target"] == 8000 and gateway["ports"][0]["published"] == "8000"
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    # One token, given to both sides.
    assert factory["environment"]["FACTORY_INTERNAL_TOKEN"] == ""
    assert worker["environment"]["WORKER_FACTORY_TOKEN"] == ""


def test_replicas_token_and_postgres_profile_come_from_the_environment() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "WORKER_REPLICAS": "5",
        "PULSE_INTERNAL_TOKEN": "t0ken",
        "STORE_BACKEND": "postgres",
        "POSTGRES_PASSWORD": "pw",
    }
    services = resolved("--profile", "postgres", env=env)["services"]
    assert services["worker"]["deploy"]["replicas"] == 5
    assert services["worker"]["environment"]["WORKER_FACTORY_TOKEN"] == "t0ken"
    assert services["factory"]["environment"]["FACTORY_INTERNAL_TOKEN"] == "t0ken"
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    url = services["worker"]["environment"]["DATABASE_URL"]
    assert url == "postgresql://pulse:pw@postgres:5432/pulse"
    assert services["worker"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_the_smoke_override_keeps_every_container_on_the_host_loopback() -> None:
    config = resolved("-f", "deploy/smoke/compose.smoke.yaml")
    for name, service in config["services"].items():
        assert service["network_mode"] == "host", name
        assert "ports" not in service, name
        assert service["build"]["network"] == "host", name
    hosts = [
        config["services"]["factory"]["environment"]["FACTORY_HOST"],
        config["services"]["gateway"]["environment"]["GATEWAY_HOST"],
    ]
    assert hosts == ["127.0.0.1", "127.0.0.1"]
    assert "networks" not in config or not config["networks"]


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    missing = [name for name in setting_names() if not re.search(rf"\b{name}\b", text)]
    assert not missing, f"{document} does not mention {missing}"


def test_env_example_holds_no_secret() -> None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if re.match(r"^\s*[A-Z_]*(TOKEN|KEY|PASSWORD)\s*=", line):
            assert line.split("=", 1)[1].strip() == "", line


def test_constraints_agree_with_the_project_pins() -> None:
    """The images install with constraints.txt: it must pin what pyproject pins, alike."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        pins += extra
    constraints = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            constraints[re.sub(r"[-_.]+", "-", name).lower()] = version
    for pin in pins:
        name, version = pin.split("==")
        name = re.sub(r"\[.*\]", "", name)
        key = re.sub(r"[-_.]+", "-", name).lower()
        assert constraints.get(key, "").split("+")[0] == version, f"{pin} vs constraints.txt"


def test_every_dockerfile_is_multi_stage_or_small_non_root_and_checks_health() -> None:
    for path in ("factory/Dockerfile", "gateway/Dockerfile", "worker/Dockerfile"):
        text = (ROOT / path).read_text()
        assert text.count("\nFROM ") + text.startswith("FROM ") >= 2, f"{path}: one stage"
        assert re.search(r"^USER 10001", text, re.M), f"{path}: runs as root"
        assert "HEALTHCHECK" in text, path
    factory = (ROOT / "factory/Dockerfile").read_text()
    assert 'ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"' in factory  # generic x86-64, not native
    assert 'CMAKE_ARGS="${LLAMA_CMAKE_ARGS}"' in factory
