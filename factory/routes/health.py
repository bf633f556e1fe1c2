"""Health, liveness, readiness and the voice list: open to every caller."""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from factory.deps import ModelsDep, SettingsDep
from factory.llm import DEMO_WARNING
from factory.models import Models
from factory.openapi import NOT_READY, FactoryReadiness
from shared.schemas import FactoryHealth

router = APIRouter()


def health(models: Models) -> FactoryHealth:
    slots = models.slots()
    states = {slot.state for slot in slots.values()}
    llm = models.llm.value
    backend = llm.status() if llm is not None else None
    if backend is not None and backend.reachable is False:
        states.add("failed")
    status = "degraded" if "failed" in states else "loading" if "loading" in states else "healthy"
    narrator = models.tts.value
    settings = models.settings
    warnings: list[str] = []
    if backend is not None and backend.reachable is False:
        warnings.append(f"the remote LLM server at {backend.url} does not answer: {backend.error}")
    if llm is not None and llm.source is not None:
        if llm.source.fallback_reason:
            warnings.append(f"the hub could not deliver the LLM: {llm.source.fallback_reason}")
        if llm.demo:
            warnings.append(DEMO_WARNING)
    return FactoryHealth(
        status=status,
        models_loaded=[k for k, s in slots.items() if s.state == "ready"],
        uptime_seconds=round(time.monotonic() - models.started, 3),
        llama_loaded=models.llm.state == "ready",
        gliner_loaded=settings.ner_engine == "gliner" and models.ner.state == "ready",
        ner_engine=settings.ner_engine,
        tts_engine=narrator.engines[0].name if narrator else settings.tts_engines[0],
        tts_engines=[e.name for e in narrator.engines] if narrator else [],
        tts_last_engine=narrator.last_engine if narrator else None,
        tts_unavailable=narrator.unavailable if narrator else {},
        models={k: s.status() for k, s in slots.items()},
        gates={k: g.status() for k, g in models.gates.items()},
        generations_cancelled=models.generations_cancelled,
        demo_model=bool(llm and llm.demo),
        llm_source=llm.source.described if llm and llm.source else None,
        warnings=warnings,
        llm_backend=backend,
    )


@router.head("/health", include_in_schema=False)  # uptime monitors send HEAD
@router.get("/health", response_model=FactoryHealth)
def get_health(models: ModelsDep) -> FactoryHealth:
    """Answers at once, also while models load: `loading`, `healthy` or `degraded`."""
    return health(models)


@router.head("/healthz", include_in_schema=False)
@router.get("/healthz")
def liveness() -> dict[str, str]:
    return {"status": "alive"}


@router.head("/readyz", include_in_schema=False)
@router.get("/readyz", response_model=FactoryReadiness, responses=NOT_READY)
def readiness(models: ModelsDep, settings: SettingsDep) -> JSONResponse:
    """503 until every required model is loaded (and for good if one failed)."""
    missing = models.missing_for_ready()
    if missing:
        headers = {"Retry-After": str(settings.retry_after_s)}
        return JSONResponse({"ready": False, "waiting_for": missing}, 503, headers=headers)
    return JSONResponse({"ready": True})


@router.get("/voices")
def voices(settings: SettingsDep) -> dict[str, object]:
    return {"voices": settings.voices, "default": settings.default_voice}
