"""The console, driven as a person types, through the real service."""

import io

from terminal.console import run_console


def test_the_console_answers_explains_verifies_and_refuses_bad_input(service):
    typed = io.StringIO(
        "help\n"
        "ask How much memory does a 7B model need in int8?\n"
        "verify int8 is always lossless for every model\n"
        "ask    \n"
        "quit\n"
    )
    screen = io.StringIO()
    assert run_console(service, typed, screen) == 0
    shown = screen.getvalue()
    assert "quantutor console: SmolLM2-135M-Instruct (nf4)" in shown
    assert "explain TOPIC" in shown
    assert "**What the sources say**" in shown and "[1]" in shown
    assert "overbroad:" in shown
    assert "The question is empty" in shown
