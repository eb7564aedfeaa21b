"""Logs are one JSON object per line, carry request ids, and never show a secret."""

import json
import logging

from tutor.answer import Asker
from tutor.logs import JsonLines, RedactSecrets


def capture(secrets=()):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.setFormatter(JsonLines())
    handler.addFilter(RedactSecrets(list(secrets)))
    return handler, records


def test_a_secret_never_reaches_a_log_line():
    token = "MTIz.secret-token.value"
    handler, lines = capture([token])
    logger = logging.getLogger("quantutor.test-secrets")
    logger.addHandler(handler)
    try:
        logger.error("login failed with %s", token)
        logger.error("bad token", extra={"token": token})
    finally:
        logger.removeHandler(handler)
    assert len(lines) == 2
    assert all(token not in line and "***" in line for line in lines)


async def test_each_answer_logs_one_line_with_its_request_id(service):
    handler, lines = capture()
    logger = logging.getLogger("tutor.service")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        answer = await service.ask("What is the capital of France?", Asker("u-log", "g-log"))
    finally:
        logger.removeHandler(handler)
    entries = [json.loads(line) for line in lines]
    assert [e["event"] for e in entries] == ["answered"]
    assert entries[0]["request_id"] == answer.request_id and len(answer.request_id) == 12
    assert (entries[0]["user"], entries[0]["kind"]) == ("u-log", "off_topic")
