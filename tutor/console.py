"""The console front end: the tutor in a terminal, through the same service as Discord."""

import asyncio
import sys

from tutor.guard import GuardError

HELP = """Commands:
  ask QUESTION     answer from the knowledge base, with numbered citations
                   (a line that is not a command is asked as a question)
  help             this list
  quit             leave (Ctrl-D works too)"""


def run_console(service, stdin=sys.stdin, stdout=sys.stdout) -> int:
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
            if command in ("quit", "exit"):
                break
            if command == "help":
                print(HELP, file=stdout)
            elif command:
                question = rest if command == "ask" else line.strip()
                print(_answer(loop, service, question), file=stdout)
    finally:
        loop.close()
    return 0


def _answer(loop, service, question: str) -> str:
    try:
        return loop.run_until_complete(service.ask(question)).render()
    except GuardError as error:
        return str(error)
    except TimeoutError:
        return "The model took too long on that one; please try again."
