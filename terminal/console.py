"""The console front end: the tutor in a terminal, through the same service as Discord."""

import asyncio
import re
import signal
import sys

from tutor.errors import GuardError

HELP = """Commands:
  ask QUESTION     answer from the knowledge base, with numbered citations
                   (a line that is not a command is asked as a question)
  explain TOPIC    a plain-language explanation for a beginner
  steps DETAIL     two possible next steps, each with a reason it might be wrong
  verify CLAIM     check one claim against the knowledge base
  help             this list
  quit             leave (Ctrl-D works too)
The quiz has its own command: quantutor quiz"""


# Markdown emphasis as a terminal shows it: **bold**, __underlined__, *italic*.
_STYLES = (
    (re.compile(r"\*\*(.+?)\*\*", re.S), "\033[1m\\1\033[0m"),
    (re.compile(r"__(.+?)__", re.S), "\033[4m\\1\033[0m"),
    (re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])", re.S), "\033[3m\\1\033[0m"),
)


def for_terminal(text: str, stream) -> str:
    """The Markdown as bold, underline and italics on a terminal; unchanged when piped."""
    if not getattr(stream, "isatty", lambda: False)():
        return text
    for pattern, style in _STYLES:
        text = pattern.sub(style, text)
    return text


def run_console(service, stdin=sys.stdin, stdout=sys.stdout) -> int:
    signal.signal(signal.SIGTERM, _stop)  # finish cleanly: the caller closes the service
    print(
        f"quantutor console: {service.model_name} ({service.quantization}). "
        "Type a question, or 'help'.",
        file=stdout,
    )
    loop = asyncio.new_event_loop()
    try:
        while True:
            print("> ", end="", file=stdout, flush=True)
            line = stdin.readline()
            if not line:
                break
            command, _, rest = line.strip().partition(" ")
            command = command.removeprefix("/")  # Discord's habit: "/ask", "/quit"
            if command in ("quit", "exit"):
                break
            if command == "help":
                print(HELP, file=stdout)
            elif command:
                reply = _reply(loop, service, command, rest, line.strip())
                print(for_terminal(reply, stdout), file=stdout)
    finally:
        loop.close()
    return 0


def _stop(signum, frame):
    raise SystemExit(0)


def _reply(loop, service, command: str, rest: str, line: str) -> str:
    try:
        if command == "explain":
            return loop.run_until_complete(service.ask(rest, mode="explain")).render()
        if command == "steps":
            return loop.run_until_complete(service.steps(rest)).render()
        if command == "verify":
            report = service.verify_claim(rest)
            return f"{report['status']}: {report['reason']}"
        question = rest if command == "ask" else line
        return loop.run_until_complete(service.ask(question)).render()
    except GuardError as error:
        return str(error)
    except TimeoutError:
        return "The model took too long on that one; please try again."
