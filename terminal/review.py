"""The moderators' review queue in a terminal: list, show, approve, reject, correct."""

import sys
from datetime import datetime

from tutor.answer import is_flagged
from tutor.errors import ReviewError
from tutor.storage import Review, Store

DECISIONS = {"approve": "approved", "reject": "rejected", "correct": "corrected"}


def run_review(args, settings, start_service) -> int:
    try:
        if args.action == "list":
            return _list(settings, include_resolved=args.all)
        if args.id is None:
            print(f"quantutor: 'review {args.action}' needs an item number", file=sys.stderr)
            return 2
        if args.action == "show":
            return _show(settings, args.id)
        return _decide(args, settings, start_service)
    except ReviewError as error:
        print(f"quantutor: {error}", file=sys.stderr)
        return 1


def _list(settings, include_resolved: bool) -> int:
    store = Store.from_settings(settings)
    reviews = store.list_reviews(None if include_resolved else "pending", limit=50)
    store.close()
    if not reviews:
        print("The review queue is empty.")
    for review in reviews:
        print(summary_line(review))
    return 0


def _show(settings, review_id: int) -> int:
    store = Store.from_settings(settings)
    try:
        print(describe(store.get_review(review_id)))
    finally:
        store.close()
    return 0


def _decide(args, settings, start_service) -> int:
    correction = args.correction
    if args.action == "correct" and not correction:
        print("Type the corrected answer, then Ctrl-D:", file=sys.stderr)
        correction = sys.stdin.read()
    if args.action == "correct":  # a correction becomes a source: the index takes it in
        service = start_service(settings)
        try:
            review = service.resolve_review(args.id, "corrected", args.moderator, correction)
            closed = service.store.answered_by(review.id)
        finally:
            service.close()
    else:  # approving or rejecting touches the queue only: no model, no index
        store = Store.from_settings(settings)
        try:
            review = store.resolve_review(args.id, DECISIONS[args.action], args.moderator)
        finally:
            store.close()
    print(f"#{review.id} {review.status} by {review.moderator}.")
    if review.status == "corrected":
        print("The correction is now a moderator-verified source, indexed and cited.")
        if closed:
            ids = ", ".join(f"#{r.id}" for r in closed)
            print(f"It also answers {ids} (the same question): closed as answered.")
    return 0


def summary_line(review: Review) -> str:
    flagged = sum(is_flagged(s["status"]) for s in review.answer.get("sentences", []))
    when = datetime.fromtimestamp(review.created_at).strftime("%Y-%m-%d %H:%M")
    return (
        f"#{review.id} [{review.status}] {review.question[:70]!r} "
        f"({flagged} flagged; asked by {review.user_id} at {when})"
    )


def describe(review: Review) -> str:
    lines = [summary_line(review), "", review.answer.get("answer", "")]
    if review.status != "pending":
        lines.append(f"\n{review.status} by {review.moderator}")
    if review.correction:
        lines.append(f"Correction: {review.correction}")
    return "\n".join(lines)
