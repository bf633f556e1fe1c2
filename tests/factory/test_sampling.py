"""The lazy-grammar token loop: same greedy output as llama-cpp-python, prefix reuse, stops."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from llama_cpp import Llama

from factory import prompts
from factory.llm import Generation, Summarizer
from factory.sampling import (
    CompiledGrammar,
    GenerationStats,
    SamplingParams,
    TokenGenerator,
    json_schema_grammar,
)
from shared.schemas import GeneratedSummary


@pytest.fixture(scope="module")
def summarizer(gguf_path: Path) -> Iterator[Summarizer]:
    llama = Llama(model_path=str(gguf_path), n_ctx=2048, verbose=False)
    yield Summarizer(llama, "smollm2")
    llama.close()


def test_grammar_keeps_control_characters_out_of_json_strings() -> None:
    grammar = json_schema_grammar(prompts.summary_schema_json())
    assert "\\x00-\\x1F" in grammar._grammar
    assert "maxLength" not in grammar._grammar  # bounds became rules, not text


def test_lazy_grammar_greedy_output_equals_llama_cpp_python(
    summarizer: Summarizer, articles: dict[str, str]
) -> None:
    """Regression (CI red on an AMD EPYC): the second run reused the first one's KV cache and
    re-evaluated only the last prompt token, whose logits differ slightly from a batched
    evaluation on some CPUs and flipped a near-tie. Both runs now start from an empty cache,
    so both take the same evaluation path: a batched prompt, then one token at a time."""
    llama = summarizer.llama
    prompt = summarizer.prepare("executive", True, articles["chips"], 512)
    grammar = json_schema_grammar(prompts.summary_schema_json())
    llama.reset()
    eager = llama.create_completion(
        prompt.tokens, max_tokens=512, temperature=0.0, repeat_penalty=1.1, grammar=grammar
    )
    stats = GenerationStats()
    llama.reset()
    lazy = "".join(
        TokenGenerator(llama).generate(
            prompt.tokens,
            512,
            SamplingParams(temperature=0.0),
            grammar=CompiledGrammar(llama, grammar),
            stats=stats,
        )
    )
    assert lazy == eager["choices"][0]["text"].rstrip()  # type: ignore[index]
    assert stats.finish_reason == "stop"
    GeneratedSummary.model_validate_json(lazy)


def test_second_request_evaluates_only_what_differs(
    summarizer: Summarizer, articles: dict[str, str]
) -> None:
    gen = TokenGenerator(summarizer.llama)
    first = summarizer.prepare("skimmer", False, articles["sleep"], 16)
    second = summarizer.prepare("skimmer", False, articles["bridge"], 16)
    shared = 0
    while first.tokens[shared] == second.tokens[shared]:
        shared += 1
    s1, s2, s3 = GenerationStats(), GenerationStats(), GenerationStats()
    list(gen.generate(first.tokens, 16, SamplingParams(), stats=s1))
    list(gen.generate(second.tokens, 16, SamplingParams(), stats=s2))
    list(gen.generate(second.tokens, 16, SamplingParams(), stats=s3))
    assert s2.prompt_tokens_evaluated == len(second.tokens) - shared
    assert shared > 40  # the system prompt and style line are shared
    assert s3.prompt_tokens_evaluated <= 1  # the same prompt again: all from the cache


def test_stop_event_cancels_and_max_tokens_cuts(
    summarizer: Summarizer, articles: dict[str, str]
) -> None:
    prompt = summarizer.prepare("eli5", False, articles["bridge"], 64)
    stop = threading.Event()
    run = Generation()
    pieces = summarizer.generate(prompt, 64, 0.7, False, stop, run)
    next(pieces)
    stop.set()
    list(pieces)
    assert run.finish_reason == "cancelled"
    assert run.output_tokens <= 2

    run = Generation()
    text = "".join(summarizer.generate(prompt, 5, 0.0, False, threading.Event(), run))
    assert run.output_tokens == 5 and run.finish_reason == "length"
    assert text == "".join(run.text)
