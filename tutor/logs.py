"""Structured logs: one JSON object per line, secrets redacted before anything is written."""

import json
import logging
import os
import sys
import time

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLines(logging.Formatter):
    """`{"ts", "level", "logger", "event", ...extra fields}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(entry, ensure_ascii=False, default=str)


class RedactSecrets(logging.Filter):
    """Replaces each secret by '***' in the message and every field of a record."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.getMessage())
        record.args = ()
        for key, value in vars(record).items():
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self._clean(value))
        return True

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def configure_logging(level: int = logging.WARNING, secrets: list[str] | None = None) -> None:
    """JSON lines on stderr for our loggers; library chatter only from errors up."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines())
    handler.addFilter(RedactSecrets(secrets or []))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("quantutor").setLevel(level)
    for name in ("tutor", "knowledge", "quiz", "bot"):
        logging.getLogger(name).setLevel(level)
    # discord.client warns about voice support, which a text bot does not need.
    for name in (
        "bitsandbytes",
        "transformers",
        "sentence_transformers",
        "chromadb",
        "httpx",
        "discord.client",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)
    # transformers reads these when it is imported, which commands without a model never do.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()


def describe_phases(phases: dict[str, float]) -> str:
    """'index 2.8 s, store 0.0 s, ...': a start-up's breakdown as the logs print it."""
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
