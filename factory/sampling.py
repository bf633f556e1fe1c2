"""Token generation with a lazy grammar check (what llama.cpp's own common sampler does).

llama-cpp-python 0.3.36 puts the grammar inside its sampler chain, before top-k, so every
step checks all ~49k vocabulary entries against the grammar: on SmolLM2 that is 3-7 ms a
token against ~10 ms for the forward pass, and grammar decoding runs at ~0.6x free decoding.
Here the ordinary chain samples first; only that one token is checked against the grammar,
and only when it is rejected does the grammar filter the whole vocabulary before sampling
again. Greedy output is identical; with temperature > 0 the grammar only differs from the
eager path when it removes a token from the top-k/top-p window.

Uses llama-cpp-python's ctypes API plus a few private attributes of `Llama` (its context,
vocab and KV-cache bookkeeping), which is why the package is pinned.
"""

from __future__ import annotations

import codecs
import ctypes
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import llama_cpp
import numpy as np
from llama_cpp import Llama, LlamaGrammar

FinishReason = Literal["stop", "length", "cancelled"]

_TOKEN_DATA = np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
assert _TOKEN_DATA.itemsize == ctypes.sizeof(llama_cpp.llama_token_data)
_NEG_INF = float("-inf")

# llama-cpp-python's JSON-schema converter lets raw control characters into strings, which
# is not JSON; llama.cpp's own converter excludes them. Same rule, fixed here.
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_JSON_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'


def json_schema_grammar(schema_json: str) -> LlamaGrammar:
    grammar = LlamaGrammar.from_json_schema(schema_json, verbose=False)
    if _LOOSE_CHAR in grammar._grammar:
        grammar = LlamaGrammar.from_string(
            grammar._grammar.replace(_LOOSE_CHAR, _JSON_CHAR), verbose=False
        )
    return grammar


@dataclass
class SamplingParams:
    temperature: float = 0.3
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    seed: int | None = None


@dataclass
class GenerationStats:
    tokens: int = 0
    prompt_tokens_evaluated: int = 0  # after KV-cache prefix reuse
    grammar_rejections: int = 0
    finish_reason: FinishReason = "length"


class CompiledGrammar:
    """A parsed grammar sampler, cloned for each generation (parsing costs ~0.5 ms)."""

    def __init__(self, llama: Llama, grammar: LlamaGrammar) -> None:
        self._sampler = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode(), grammar._root.encode()
        )
        if not self._sampler:
            raise ValueError("llama.cpp could not parse the grammar")

    def clone(self) -> Any:
        return llama_cpp.llama_sampler_clone(self._sampler)

    def __del__(self) -> None:
        if getattr(self, "_sampler", None):
            llama_cpp.llama_sampler_free(self._sampler)
            self._sampler = None


class TokenGenerator:
    """Streams text from one Llama object. Not thread-safe: callers hold the model's gate."""

    def __init__(self, llama: Llama) -> None:
        self.llama = llama
        self.vocab = llama._model.vocab
        self.n_vocab = llama.n_vocab()
        self.eos = llama.token_eos()
        self._buf = np.zeros(self.n_vocab, dtype=_TOKEN_DATA)
        self._ids = np.arange(self.n_vocab, dtype=np.intc)
        self._cur = llama_cpp.llama_token_data_array(
            data=self._buf.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=self.n_vocab,
            selected=-1,
            sorted=False,
        )
        self._one: Any = llama_cpp.llama_token_data(0, 0.0, 0.0)
        self._one_arr = llama_cpp.llama_token_data_array(
            data=ctypes.pointer(self._one), size=1, selected=-1, sorted=False
        )
        self._pieces: dict[int, bytes] = {}
        self._piece_buf = ctypes.create_string_buffer(256)

    def piece(self, token: int) -> bytes:
        cached = self._pieces.get(token)
        if cached is None:
            n = llama_cpp.llama_token_to_piece(self.vocab, token, self._piece_buf, 256, 0, False)
            if n < 0:  # buffer too small: -n is the size needed
                buf = ctypes.create_string_buffer(-n)
                n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
                cached = buf.raw[:n]
            else:
                cached = self._piece_buf.raw[:n]
            self._pieces[token] = cached
        return cached

    def _load_logits(self) -> None:
        logits = llama_cpp.llama_get_logits_ith(self.llama._ctx.ctx, -1)
        self._buf["id"] = self._ids  # samplers permute the array in place
        self._buf["logit"] = np.ctypeslib.as_array(logits, shape=(self.n_vocab,))
        self._buf["p"] = 0.0
        self._cur.size = self.n_vocab
        self._cur.selected = -1
        self._cur.sorted = False

    def _allows(self, grammar: Any, token: int) -> bool:
        self._one.id, self._one.logit, self._one.p = token, 1.0, 0.0
        self._one_arr.size, self._one_arr.selected, self._one_arr.sorted = 1, -1, False
        llama_cpp.llama_sampler_apply(grammar, ctypes.byref(self._one_arr))
        return bool(self._one.logit != _NEG_INF)

    def _chain(self, p: SamplingParams) -> Any:
        """The samplers and order of Llama._init_sampler, without the grammar."""
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        samplers = [
            llama_cpp.llama_sampler_init_penalties(
                self.n_vocab, self.llama.last_n_tokens_size, p.repeat_penalty, 0.0, 0.0
            )
        ]
        if p.temperature == 0.0:
            samplers.append(llama_cpp.llama_sampler_init_greedy())
        else:
            seed = llama_cpp.LLAMA_DEFAULT_SEED if p.seed is None else p.seed
            samplers += [
                llama_cpp.llama_sampler_init_top_k(p.top_k),
                llama_cpp.llama_sampler_init_typical(p.typical_p, 1),
                llama_cpp.llama_sampler_init_top_p(p.top_p, 1),
                llama_cpp.llama_sampler_init_min_p(p.min_p, 1),
                llama_cpp.llama_sampler_init_temp(p.temperature),
                llama_cpp.llama_sampler_init_dist(seed),
            ]
        for sampler in samplers:
            llama_cpp.llama_sampler_chain_add(chain, sampler)  # the chain owns it now
        return chain

    def _to_evaluate(self, tokens: list[int]) -> list[int]:
        """Reuse the KV cache of the longest common prefix, as Llama.generate does."""
        llama = self.llama
        if llama.n_tokens > 0:
            common = 0
            for a, b in zip(llama._input_ids.tolist(), tokens, strict=False):
                if a != b:
                    break
                common += 1
            consumed = common == len(tokens)
            if consumed and llama.n_tokens == len(tokens) and not llama._requires_eval:
                return []  # the last prompt token's logits are live
            reuse = common - 1 if consumed else common  # replay one token to refresh logits
            if reuse > 0 and llama._ctx.kv_cache_seq_rm(-1, reuse, -1):
                llama.n_tokens = reuse
                llama._requires_eval = True
                return tokens[reuse:]
        llama.reset()
        return tokens

    def generate(
        self,
        prompt: Sequence[int],
        max_tokens: int,
        params: SamplingParams,
        grammar: CompiledGrammar | None = None,
        should_stop: Callable[[], bool] | None = None,
        stats: GenerationStats | None = None,
    ) -> Generator[str, None, None]:
        """Yield whole UTF-8 text pieces; `stats` is filled in as it goes."""
        llama = self.llama
        st = stats if stats is not None else GenerationStats()
        tokens = list(prompt)
        room = llama.n_ctx() - len(tokens)
        if room < 1:
            raise ValueError(f"a prompt of {len(tokens)} tokens does not fit the context")
        max_tokens = min(max_tokens, room)
        stop = should_stop or (lambda: False)
        chain = self._chain(params)
        gram = grammar.clone() if grammar is not None else None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        cur_p = ctypes.byref(self._cur)
        try:
            todo = self._to_evaluate(tokens)
            st.prompt_tokens_evaluated = len(todo)
            if stop():
                st.finish_reason = "cancelled"
                return
            if todo:
                llama.eval(todo)
            while st.tokens < max_tokens:
                self._load_logits()
                llama_cpp.llama_sampler_apply(chain, cur_p)
                token = int(self._cur.data[self._cur.selected].id)
                if gram is not None and not self._allows(gram, token):
                    st.grammar_rejections += 1
                    self._load_logits()
                    llama_cpp.llama_sampler_apply(gram, cur_p)
                    llama_cpp.llama_sampler_apply(chain, cur_p)
                    chosen = self._cur.data[self._cur.selected]
                    if chosen.logit == _NEG_INF:
                        raise RuntimeError("the grammar rejected every token")
                    token = int(chosen.id)
                if llama_cpp.llama_vocab_is_eog(self.vocab, token):
                    st.finish_reason = "stop"
                    return
                # Accepting a token the grammar forbids aborts the process: only checked ones.
                if gram is not None:
                    llama_cpp.llama_sampler_accept(gram, token)
                llama_cpp.llama_sampler_accept(chain, token)
                st.tokens += 1
                text = decoder.decode(self.piece(token))
                if text:
                    yield text
                if stop():
                    st.finish_reason = "cancelled"
                    return
                if gram is not None and self._allows(gram, self.eos):
                    st.finish_reason = "stop"  # the grammar is complete: e.g. JSON closed
                    return
                if st.tokens < max_tokens:
                    llama.eval([token])
            st.finish_reason = "length"
        finally:
            # The last sampled token is never evaluated, so n_tokens and the KV cache agree
            # and the next call reuses the common prefix.
            llama_cpp.llama_sampler_free(chain)
            if gram is not None:
                llama_cpp.llama_sampler_free(gram)
