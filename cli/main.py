"""The `quantutor` commands. Every command calls the same core as the bot; each imports what
it needs inside it, so a command that needs no model loads no torch."""

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterable

from knowledge.errors import IndexUnavailable
from tutor.errors import (
    CuratedError,
    GuardError,
    LabError,
    ModelError,
    SettingsError,
    StorageError,
)
from tutor.logs import configure_logging
from tutor.settings import Settings, load_settings


def start_service(settings: Settings):
    from tutor.service import TutorService

    return TutorService.start(settings)


# -- commands ------------------------------------------------------------------------


def cmd_ask(args, settings: Settings) -> int:
    many = args.question == "-"
    questions = _lines(sys.stdin) if many else [args.question]
    service = start_service(settings)
    try:
        return asyncio.run(_ask_all(service, questions, args.json, headed=many))
    finally:
        service.close()


async def _ask_all(service, questions: Iterable[str], as_json: bool, headed: bool = False) -> int:
    """Answer each question in turn; one that is refused says why and the rest still run.
    As text, a refusal goes to stderr and sets the exit status; as JSON it is a record.
    `headed` text answers each start with their question, so several read apart."""
    from terminal.console import for_terminal

    status = 0
    for question in questions:
        try:
            answer = await service.ask(question)
        except GuardError as error:
            if not as_json:
                print(f"quantutor: {error}", file=sys.stderr)
                status = 2
                continue
            shown = json.dumps({"question": question, "error": str(error)}, ensure_ascii=False)
        else:
            if as_json:
                shown = json.dumps(answer.to_dict(), ensure_ascii=False)
            else:
                text = f"**Q: {question}**\n\n{answer.render()}\n" if headed else answer.render()
                shown = for_terminal(text, sys.stdout)
        print(shown, flush=True)
    return status


def cmd_explain(args, settings: Settings) -> int:
    return _print_one(settings, lambda service: service.ask(args.topic, mode="explain"), args.json)


def cmd_steps(args, settings: Settings) -> int:
    return _print_one(settings, lambda service: service.steps(args.detail), args.json)


def _print_one(settings: Settings, call, as_json: bool) -> int:
    """Start the service, await one call on it, print the result as text or JSON."""
    service = start_service(settings)
    try:
        from terminal.console import for_terminal

        result = asyncio.run(call(service))
        shown = for_terminal(result.render(), sys.stdout)
        print(json.dumps(result.to_dict(), ensure_ascii=False) if as_json else shown)
    finally:
        service.close()
    return 0


def cmd_memory(args, settings: Settings) -> int:
    from terminal.console import for_terminal
    from tutor.memory import estimate_for

    estimate = estimate_for(
        args.model,
        args.precision,
        args.context,
        args.batch,
        args.kv_precision,
        args.bandwidth,
        args.gpu,
    )
    print(
        json.dumps(estimate.to_dict()) if args.json else for_terminal(estimate.render(), sys.stdout)
    )
    return 0


def cmd_verify(args, settings: Settings) -> int:
    from knowledge.index import KnowledgeIndex
    from tutor.service import build_verifier, claim_report

    index = KnowledgeIndex.from_settings(settings)
    index.sync(progress=False)
    verifier = build_verifier(index, settings)
    claims = _lines(sys.stdin) if args.claim == "-" else [args.claim]
    for claim in claims:
        try:
            report = claim_report(verifier, claim, settings.max_question_chars)
        except GuardError as error:
            report = {"claim": claim, "error": str(error)}
        print(json.dumps(report, ensure_ascii=False) if args.json else _render_claim(report))
    return 0


def _render_claim(report: dict) -> str:
    if "error" in report:
        return f"{report['claim']!r}: {report['error']}"
    mark = "⚠️ " if report["flagged"] else "✓ "
    lines = [f"{mark}{report['status']} ({report['score']:.2f}): {report['reason']}"]
    lines += [f"  [{s['n']}] {s['title']}: {s['quote'][:160]}" for s in report["sources"][:2]]
    return "\n".join(lines)


def cmd_review(args, settings: Settings) -> int:
    from terminal.review import run_review

    return run_review(args, settings, start_service)


def cmd_quiz(args, settings: Settings) -> int:
    from terminal.quiz import export_bank, run_quiz

    if args.export_json:
        print(export_bank(args.bank))
        return 0
    return run_quiz(settings, args.bank)


def cmd_export_user(args, settings: Settings) -> int:
    from tutor.storage import Store

    store = Store.from_settings(settings)
    try:
        print(json.dumps(store.export_user(args.user_id), indent=2, ensure_ascii=False))
    finally:
        store.close()
    return 0


def cmd_forget_user(args, settings: Settings) -> int:
    from tutor.storage import Store

    store = Store.from_settings(settings)
    try:
        counts = store.forget_user(args.user_id)
    finally:
        store.close()
    removed = ", ".join(f"{n} {table}" for table, n in counts.items())
    print(f"Forgot member {args.user_id}: {removed} (review items kept, anonymized).")
    return 0


def cmd_lab(args, settings: Settings) -> int:
    from tutor.lab.chart import draw_chart
    from tutor.lab.report import lab_files
    from tutor.lab.run import run_lab

    report = run_lab(settings, args.precisions, fresh=args.fresh, progress=not args.json)
    chart, markdown, as_json = lab_files(settings)
    draw_chart(report, chart)
    report.write_markdown(markdown)
    report.write_json(as_json)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"{report.render_table()}\n\n{report.render_targets()}\n\nChart: {chart}")
    return 0


def cmd_health(args, settings: Settings) -> int:
    from tutor.health import check_health

    healthy, why = check_health(settings.data_dir)
    print(f"{'healthy' if healthy else 'unhealthy'}: {why}")
    return 0 if healthy else 1


def cmd_ingest(args, settings: Settings) -> int:
    from knowledge.index import KnowledgeIndex

    index = KnowledgeIndex.from_settings(settings)
    report = index.sync(progress=True, force=True)
    print(f"Indexed {report.added} documents ({report.chunks} chunks).")
    for error in report.errors:
        print(f"skipped: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def cmd_discord(args, settings: Settings) -> int:
    from bot.main import command_specs, sync_commands

    if args.sync:
        return sync_commands(settings)
    print(json.dumps(command_specs(settings), indent=2, ensure_ascii=False))
    return 0


def cmd_run(args, settings: Settings) -> int:
    if settings.discord_token is not None:
        from bot.main import run_bot

        return run_bot(settings)
    from terminal.console import run_console

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

    explain = commands.add_parser("explain", help="a plain-language explanation for a beginner")
    explain.add_argument("topic")
    explain.add_argument("--json", action="store_true")
    explain.set_defaults(handler=cmd_explain)

    steps = commands.add_parser(
        "steps", help="two possible next steps from one detail, each with a reason it may be wrong"
    )
    steps.add_argument("detail")
    steps.add_argument("--json", action="store_true")
    steps.set_defaults(handler=cmd_steps)

    memory = commands.add_parser(
        "memory", help="the memory of a model's weights and KV cache, with the formulas and sources"
    )
    memory.add_argument("model", help="a known model ('llama 2 70b') or a parameter count ('70B')")
    memory.add_argument("--precision", default="fp16", help="e.g. fp16, int8, nf4, q4_k_m, 4-bit")
    memory.add_argument("--context", type=int, default=0, help="context length in tokens")
    memory.add_argument("--batch", type=int, default=1, help="sequences held at once")
    memory.add_argument("--kv-precision", default="fp16", help="the KV cache's precision")
    memory.add_argument(
        "--bandwidth", type=float, help="memory bandwidth in GB/s: the decode bound"
    )
    memory.add_argument(
        "--gpu",
        help="a GPU or several ('h100', '2x rtx 3090'): its bandwidth and whether the model fits",
    )
    memory.add_argument("--json", action="store_true")
    memory.set_defaults(handler=cmd_memory)

    verify = commands.add_parser("verify", help="check a claim against the knowledge base")
    verify.add_argument("claim", help="the claim, or - to read one per line from stdin")
    verify.add_argument("--json", action="store_true", help="one JSON object per claim")
    verify.set_defaults(handler=cmd_verify)

    review = commands.add_parser("review", help="work the moderators' review queue")
    review.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "show", "approve", "reject", "correct"],
    )
    review.add_argument("id", nargs="?", type=int, help="the review item's number")
    review.add_argument("correction", nargs="?", help="the corrected text (for 'correct')")
    review.add_argument("--moderator", default=os.environ.get("USER", "console"))
    review.add_argument("--all", action="store_true", help="list resolved items too")
    review.set_defaults(handler=cmd_review)

    quiz = commands.add_parser("quiz", help="take the lesson's quiz in the terminal")
    quiz.add_argument("--bank", default="lesson", help="lesson (default) or deep_dive")
    quiz.add_argument("--export-json", action="store_true", help="print the bank as JSON")
    quiz.set_defaults(handler=cmd_quiz)

    export = commands.add_parser("export-user", help="print all data stored about a member")
    export.add_argument("user_id", help="the member's Discord id ('console' for the console)")
    export.set_defaults(handler=cmd_export_user)

    forget = commands.add_parser("forget-user", help="delete a member's stored data")
    forget.add_argument("user_id")
    forget.set_defaults(handler=cmd_forget_user)

    lab = commands.add_parser(
        "lab", help="measure the model at each precision: memory, speed and quality, with a chart"
    )
    lab.add_argument("--json", action="store_true", help="print the report as JSON")
    lab.add_argument("--fresh", action="store_true", help="measure again, ignoring the cache")
    lab.add_argument(
        "--precisions",
        nargs="+",
        choices=["none", "int8", "nf4", "llamacpp"],
        help="default: none int8 nf4, and llamacpp where it is installed",
    )
    lab.set_defaults(handler=cmd_lab)

    health = commands.add_parser("health", help="whether the running bot is connected (exit 0)")
    health.set_defaults(handler=cmd_health)

    ingest = commands.add_parser("ingest", help="rebuild the knowledge index from the sources")
    ingest.set_defaults(handler=cmd_ingest)

    discord = commands.add_parser("discord", help="inspect or register the Discord commands")
    action = discord.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--check", action="store_true", help="build the bot offline, print its commands as JSON"
    )
    action.add_argument("--sync", action="store_true", help="register the commands with Discord")
    discord.set_defaults(handler=cmd_discord)

    run = commands.add_parser("run", help="the Discord bot if a token is set, else the console")
    run.set_defaults(handler=cmd_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        settings = load_settings()
        secrets = [
            s.get_secret_value()
            for s in (settings.discord_token, settings.database_url, settings.server_api_key)
            if s
        ]
        serving = args.command == "run" and settings.discord_token is not None
        level = logging.INFO if serving else logging.WARNING  # the console shows answers only
        configure_logging(level, secrets=secrets)
        status = args.handler(args, settings)
        sys.stdout.flush()  # here, so a reader that stopped early is met below, not at exit
        return status
    except BrokenPipeError:  # `quantutor memory 70B | head -1`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (
        CuratedError,
        SettingsError,
        ModelError,
        StorageError,
        GuardError,
        LabError,
        IndexUnavailable,
    ) as error:
        print(f"quantutor: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
