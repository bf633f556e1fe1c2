"""POST /audio: the whole MP3 narration of a text."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from factory.deps import ModelsDep, SettingsDep, check_size, require_token
from factory.openapi import model_errors
from factory.tts import TtsError
from shared.http_errors import ApiError, error_response
from shared.schemas import AudioRequest

router = APIRouter(dependencies=[Depends(require_token)])


@router.post(
    "/audio",
    response_class=Response,
    responses={
        200: {
            "content": {"audio/mpeg": {}},
            "description": "the whole MP3",
            "headers": {
                "X-TTS-Engine": {"required": True, "schema": {"type": "string"}},
                "X-TTS-Fallback": {
                    "description": "why earlier engines did not speak",
                    "schema": {"type": "string"},
                },
            },
        },
        **model_errors("the voice is not one of `GET /voices` (`unknown_voice`)"),
        502: error_response("no TTS engine could speak the text (`tts_failed`)", retry_after=True),
    },
)
async def audio(req: AudioRequest, models: ModelsDep, settings: SettingsDep) -> Response:
    """MP3 narration. The body is complete before the 200 is sent; `X-TTS-Engine` names
    the engine that spoke and `X-TTS-Fallback` why earlier engines did not."""
    check_size(req.text, settings.max_audio_text_bytes, "text")
    voice = req.voice or settings.default_voice
    if voice not in settings.voices:
        known = ", ".join(settings.voices)
        raise ApiError(422, "unknown_voice", f"unknown voice {voice!r}; known: {known}")
    narrator = models.tts.get()
    ticket = models.gates["tts"].admit()
    try:
        speech = await narrator.speak(req.text, voice, req.rate, req.volume)
    except TtsError as exc:
        raise ApiError(502, "tts_failed", str(exc), retry_after=settings.retry_after_s) from exc
    finally:
        ticket.release()
    headers = {"X-TTS-Engine": speech.engine}
    if speech.fallback_reasons:
        headers["X-TTS-Fallback"] = " | ".join(speech.fallback_reasons)[:500]
    return Response(speech.mp3, media_type="audio/mpeg", headers=headers)
