"""The `quantutor` command line, run as a user would."""

import json
import os
import subprocess
import sys

import pytest


def quantutor(*args, stdin="", settings=None, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QUANTUTOR_DATA_DIR": str(settings.data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


@pytest.mark.model  # the command it starts loads the real model and answers
def test_ask_json_answers_each_line_and_reports_a_bad_one_without_stopping(settings):
    result = quantutor(
        "ask", "--json", "-", stdin="What is NF4?\n\nWhat is GPTQ?\n", settings=settings
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in records] == ["What is NF4?", "", "What is GPTQ?"]
    assert "error" in records[1] and "empty" in records[1]["error"]
    for record in (records[0], records[2]):
        assert record["sources"] and record["sources"][0]["title"]
        assert {"answer", "sentences", "flagged", "model", "quantization", "timings_ms"} <= set(
            record
        )
        assert record["quantization"] == "nf4"


def test_a_bad_setting_is_one_clear_line_not_a_traceback(settings):
    env_settings = type("S", (), {"data_dir": settings.data_dir})
    os.environ["QUANTUTOR_QUANTIZATION"] = "fp3"
    try:
        result = quantutor("ask", "What is NF4?", settings=env_settings)
    finally:
        del os.environ["QUANTUTOR_QUANTIZATION"]
    assert result.returncode == 2
    assert result.stderr.startswith("quantutor: QUANTUTOR_QUANTIZATION:")
    assert "Traceback" not in result.stderr


def test_a_reader_that_stops_early_gets_no_traceback(settings):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QUANTUTOR_DATA_DIR": str(settings.data_dir)}
    command = [sys.executable, "-m", "cli", "memory", "70B", "--precision", "nf4"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    process.stdout.close()  # like `| head -0`: nothing will read what it prints
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


async def test_ask_without_json_answers_each_stdin_line_as_text(fake_service, capsys):
    from cli.main import _ask_all

    questions = ["What is NF4?", "", "What is GPTQ?"]
    status = await _ask_all(fake_service, questions, as_json=False, headed=True)
    out, err = capsys.readouterr()
    assert status == 2  # the empty line was refused, and the exit status says so
    assert "empty" in err and "Traceback" not in err
    assert out.count("What the sources say") == 2  # both real questions answered, in order
    assert out.index("Q: What is NF4?") < out.index("Q: What is GPTQ?")  # each under its question
