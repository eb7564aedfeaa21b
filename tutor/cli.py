"""The `quantutor` command line. Every command calls the same TutorService as the bot."""

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterable

from tutor.guard import GuardError
from tutor.model import ModelError
from tutor.settings import Settings, SettingsError, load_settings
from tutor.storage import StorageError

log = logging.getLogger("quantutor")


def quiet_libraries() -> None:
    """Library chatter (weight-loading bars, the bitsandbytes kernel notice) is not for users."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("bitsandbytes", "transformers", "sentence_transformers", "chromadb", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def start_service(settings: Settings):
    from tutor.service import TutorService

    return TutorService.start(settings)


# -- commands ------------------------------------------------------------------------


def cmd_ask(args, settings: Settings) -> int:
    service = start_service(settings)
    try:
        if args.json:
            questions = _lines(sys.stdin) if args.question == "-" else [args.question]
            asyncio.run(_ask_json(service, questions))
        else:
            answer = asyncio.run(service.ask(args.question))
            print(answer.render())
    finally:
        service.close()
    return 0


async def _ask_json(service, questions: Iterable[str]) -> None:
    for question in questions:
        try:
            record = (await service.ask(question)).to_dict()
        except GuardError as error:
            record = {"question": question, "error": str(error)}
        print(json.dumps(record, ensure_ascii=False), flush=True)


def cmd_ingest(args, settings: Settings) -> int:
    from knowledge.index import KnowledgeIndex

    index = KnowledgeIndex.from_settings(settings)
    report = index.sync(progress=True, force=True)
    print(f"Indexed {report.added} documents ({report.chunks} chunks).")
    for error in report.errors:
        print(f"skipped: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def cmd_run(args, settings: Settings) -> int:
    if settings.discord_token is not None:
        from bot.main import run_bot

        return run_bot(settings)
    from tutor.console import run_console

    service = start_service(settings)
    try:
        return run_console(service)
    finally:
        service.close()


def _lines(stream) -> Iterable[str]:
    for line in stream:
        yield line.rstrip("\n")


# -- entry point ---------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quantutor", description="A tutor for AI model quantization that checks itself."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ask = commands.add_parser("ask", help="answer a question from the knowledge base, cited")
    ask.add_argument("question", help="the question, or - to read one per line from stdin")
    ask.add_argument("--json", action="store_true", help="one JSON object per answer")
    ask.set_defaults(handler=cmd_ask)

    ingest = commands.add_parser("ingest", help="rebuild the knowledge index from the sources")
    ingest.set_defaults(handler=cmd_ingest)

    run = commands.add_parser("run", help="the Discord bot if a token is set, else the console")
    run.set_defaults(handler=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    try:
        settings = load_settings()
        return args.handler(args, settings)
    except (SettingsError, ModelError, StorageError, GuardError) as error:
        print(f"quantutor: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
