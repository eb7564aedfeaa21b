"""The console, driven as a person types, through the real service."""

import io

from terminal.console import for_terminal, run_console


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


def test_commands_typed_the_discord_way_with_a_slash_work_too(fake_service):
    typed = io.StringIO("/help\n/verify int8 is always lossless for every model\n/quit\n")
    screen = io.StringIO()
    assert run_console(fake_service, typed, screen) == 0
    shown = screen.getvalue()
    assert "explain TOPIC" in shown and "overbroad:" in shown
    assert "stay on that" not in shown  # '/quit' left; it was not asked as a question


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_bold_underline_and_italics_instead_of_markdown():
    text = "**What the sources say**\n__int4 is lossless__ ⚠️ *contradicts sources* (2*3*4)"
    shown = for_terminal(text, Terminal())
    assert "**" not in shown and "__" not in shown
    assert "\033[1mWhat the sources say\033[0m" in shown
    assert (
        "\033[4mint4 is lossless\033[0m" in shown and "\033[3mcontradicts sources\033[0m" in shown
    )
    assert "(2*3*4)" in shown  # arithmetic is not emphasis
    assert for_terminal(text, io.StringIO()) == text  # piped output stays Markdown
