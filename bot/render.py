"""Text and embeds for Discord: escaping, splitting under the limits, and the tutor's layouts.

Pure functions (no network, no state). Everything a person or the model wrote goes
through `escape`, so it can neither ping anyone nor inject markdown links or formatting;
only the markup added here is live.
"""

import re

import discord

from quiz.engine import AnswerResult, QuestionView, Summary
from tutor.answer import (
    ARITHMETIC_HEADING,
    MARKERS,
    Answer,
    Sentence,
    SourceRef,
    by_document,
    source_numbers,
)
from tutor.steps import NextSteps, Step
from tutor.storage import Review, question_key

MESSAGE_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELD_LIMIT = 1024
EMBED_FIELDS_MAX = 25
EMBED_TOTAL_LIMIT = 6000
NO_MENTIONS = discord.AllowedMentions.none()

DRAFTING = "✍️ *Drafting: every sentence is checked against the sources before the answer is final…*"
APOLOGY = (
    "Sorry, something went wrong on my side and I could not finish that. "
    "It has been logged; please try again in a minute."
)
MOVED_TO_CHANNEL = (
    "⏳ Still working on it. Discord lets me edit this reply for only 15 minutes, "
    "so the answer will come as a new message in this channel."
)
RESTARTING = "I'm restarting and could not finish this one. Please ask again in a minute."
TOO_SLOW = "Sorry, the model took too long on that one. Please try again in a minute."

_MARKDOWN = re.compile(r"([\\*_~`|\[\]()<>])")
_LINE_START = re.compile(r"(?m)^(\s*)([#\-+])")
_EVERYONE = re.compile(r"@(everyone|here)", re.I)
# Stretches a message must not be cut inside: links, markup pairs, citations, mentions,
# escapes.
_ATOMIC = re.compile(
    r"\[(?:\\.|[^\[\]\n])*\]\(https?://[^()\s]*\)"
    r"|__.+?__|\*\*.+?\*\*|\*[^*\n]+\*|\[\d+\]|<[^<>\n]+>|\\."
)
_CUTS = ("\n\n", "\n", ". ", " ")
# A url shown as a masked link: http(s), nothing that could end the link or start markup.
_LINKABLE = re.compile(r"https?://[^\s()<>\[\]`*|\\]+")
URL_LIMIT = 300  # a longer url is left out rather than crowding the embed


# -- escaping and splitting -------------------------------------------------------------


def escape(text: str) -> str:
    """Text shown as typed: no markdown, no links in disguise, no @everyone."""
    text = _MARKDOWN.sub(r"\\\1", text)
    text = _LINE_START.sub(r"\1\\\2", text)
    return _EVERYONE.sub("@\u200b\\1", text)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word with an ellipsis, never after a lone '\\'."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    cut = cut if cut > limit // 2 else limit - 1
    while cut > 0 and text[cut - 1] == "\\":
        cut -= 1
    return text[:cut].rstrip() + "…"


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Messages of at most `limit` characters, cut between paragraphs, lines or sentences.

    A cut never falls inside a citation, a mention, an escape or a formatting pair.
    """
    parts = []
    text = text.strip()
    while len(text) > limit:
        cut = _cut_point(text, limit)
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return [part for part in parts if part]


def _cut_point(text: str, limit: int) -> int:
    protected = [m.span() for m in _ATOMIC.finditer(text)]

    def free(index: int) -> bool:
        return not any(start < index < end for start, end in protected)

    fallback = None
    for separator in _CUTS:
        position = text.rfind(separator, 0, limit + 1)
        while position > 0:
            cut = position + 1 if separator == ". " else position
            if cut <= limit and free(cut):
                if cut >= limit // 2:
                    return cut
                fallback = fallback or cut
            position = text.rfind(separator, 0, position)
    if fallback:
        return fallback
    cut = limit
    while cut > 1 and text[cut - 1] == "\\":
        cut -= 1
    return cut


def link(text: str, url: str) -> str:
    """`text` (already escaped) as a masked link to `url`, or plain when the url is missing
    or not a plain http(s) address (so a source's url can never inject markup)."""
    if url and len(url) <= URL_LIMIT and _LINKABLE.fullmatch(url):
        return f"[{text}]({url})"
    return text


def code_blocks(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Preformatted text (a table) in code blocks, split between lines."""
    body = text.replace("```", "'''")
    return [f"```\n{part}\n```" for part in split_message(body, limit - 8)]


# -- answers ----------------------------------------------------------------------------


def sentence(s: Sentence) -> str:
    cites = "".join(f"[{n}]" for n in s.citations)
    text = f"{escape(s.text)} {cites}".strip()
    if not s.flagged:
        return text
    return f"__{text}__ ⚠️ *{MARKERS[s.status]}: {escape(s.reason)}*"


# Who will look at a flagged answer, said as it is: a moderators' channel was posted to, the
# server's queue holds it with no channel set, or (in direct messages) only the host's queue.
REVIEW_NOTICES = {
    "moderators": "the moderators have been asked to check them.",
    "queue": (
        "they are in this server's review queue, but no moderators' channel is set, "
        "so no one has been told yet."
    ),
    "host": (
        "in direct messages no server's moderators see them; they are in the review queue "
        "of the bot's host."
    ),
}


def answer_body(answer: Answer, reviewed_by: str = "moderators") -> str:
    """What the sources say, then the model's explanation with flagged sentences marked;
    `reviewed_by` (a REVIEW_NOTICES key) says who was told about the flagged ones."""
    if answer.kind != "answer":
        return answer.message
    parts = []
    if answer.arithmetic:
        parts.append(ARITHMETIC_HEADING + "\n" + "\n".join(map(sentence, answer.arithmetic)))
    if answer.from_sources:
        parts.append("**What the sources say**\n" + " ".join(map(sentence, answer.from_sources)))
    if answer.draft:
        parts.append(
            "**In plain words** (drafted by the model, checked sentence by sentence)\n"
            + " ".join(map(sentence, answer.draft))
        )
    if answer.flagged:
        parts.append(
            "-# ⚠️ Underlined sentences are not backed by the sources; "
            + REVIEW_NOTICES[reviewed_by]
        )
    return "\n\n".join(parts)


def question_line(question: str, limit: int = 400) -> str:
    return f"**Q:** {clip(escape(question), limit)}"


def answer_messages(answer: Answer, reviewed_by: str = "moderators") -> list[str]:
    """The answer as messages under Discord's limit, the question first."""
    body = answer_body(answer, reviewed_by)
    return split_message(f"{question_line(answer.question)}\n\n{body}")


def draft_preview(question: str, draft: str) -> str:
    """The streamed message: the question, and the newest part of the draft so far."""
    head = f"{question_line(question, 300)}\n\n{DRAFTING}\n"
    room = MESSAGE_LIMIT - len(head)
    shown = escape(draft.strip())
    if len(shown) > room:
        shown = "…" + shown[-(room - 1) :].lstrip("\\")
    return head + shown


def queued_text(waiting: int, drafting: int, wait: str) -> str:
    """Where a question stands: those waiting before it, and those being drafted now."""
    if waiting:
        place = "1 question is" if waiting == 1 else f"{waiting} questions are"
        ahead = f"{place} waiting ahead of yours and {drafting} being answered"
    else:
        place = "1 question is" if drafting == 1 else f"{drafting} questions are"
        ahead = f"{place} being answered"
    return f"⏳ {ahead} ({wait}). I will start on yours as soon as I can."


def sources_embed(sources: list[SourceRef], title: str = "Sources") -> discord.Embed:
    """One field per source document, within every embed limit."""
    embed = discord.Embed(title=title, colour=discord.Colour.blurple())
    budget = EMBED_TOTAL_LIMIT - len(title) - 100  # room for a footer
    groups = by_document(sources)
    for shown, group in enumerate(groups[:EMBED_FIELDS_MAX]):
        name = clip(f"{source_numbers(group)} {escape(group[0].title)}", EMBED_TITLE_LIMIT)
        value = source_field(group)
        if len(name) + len(value) > budget:
            embed.set_footer(text=f"{len(groups) - shown} more sources not shown.")
            break
        embed.add_field(name=name, value=value, inline=False)
        budget -= len(name) + len(value)
    return embed


def source_field(group: list[SourceRef]) -> str:
    """Where a source document comes from (a link where it has a url) and its quoted lines,
    within a field's limit: the link is never cut, the quotes share the room left."""
    first = group[0]
    head = f"*{link(clip(escape(first.source), 300), first.url)}*"
    room = (EMBED_FIELD_LIMIT - len(head)) // len(group) - 10
    quotes = [
        f"> {clip(escape(ref.quote), room)}" + (f" [{ref.n}]" if len(group) > 1 else "")
        for ref in group
    ]
    return "\n".join([head, *quotes])


def steps_messages(steps: NextSteps) -> list[str]:
    """Two next steps, each with its risk; the detail and the model's text escaped."""
    header = steps.render().split("\n", 1)[0]  # names how the steps were produced
    lines = [f"**Detail:** {clip(escape(steps.detail), 400)}", "", header]
    for number, step in enumerate(steps.steps, start=1):
        cites = "".join(f"[{n}]" for n in step.citations)
        lines.append(f"{number}. {escape(step.step)} {cites}".rstrip())
        lines.append(f"   ⚠️ *Might be wrong because:* {escape(step.risk)}")
    return split_message("\n".join(lines))


CLAIM_MARKS = {
    "supported": "✅ supported",
    "uncertain": "❔ not backed by my sources",
    "overbroad": "⚠️ too broad",
    "contradicted": "❌ contradicts my sources",
}


def claim_reports(reports: list[dict], jump_url: str, unchecked: int) -> list[str]:
    """The verifier's verdict on each claim of a message (verify_claim's reports)."""
    lines = [f"**Checked against my sources:** {jump_url}"]
    for report in reports:
        lines.append(f"{CLAIM_MARKS[report['status']]}: “{clip(escape(report['claim']), 300)}”")
        lines.append(f"> {clip(escape(report['reason']), 300)}")
        if report["sources"]:
            source = report["sources"][0]
            title = link(clip(escape(source["title"]), 120), source.get("url", ""))
            lines.append(f"> *Source: {title}* ({clip(escape(source['source']), 120)})")
    if unchecked:
        lines.append(f"-# {unchecked} more sentences were not checked.")
    return split_message("\n".join(lines))


# -- the moderators' queue ----------------------------------------------------------------


def review_post(review: Review) -> tuple[str, discord.Embed]:
    """The moderators' copy of a flagged or reported answer (or reported next steps)."""
    if review.answer.get("kind") == "steps":
        steps = steps_from_dict(review.answer)
        body, sources, what = "\n".join(steps_messages(steps)), steps.sources, "next steps"
    else:
        answer = Answer.from_dict(review.answer)
        body, sources, what = answer_body(answer), answer.sources, "an answer"
    reporter = review.reporter_id
    if reporter.isdigit():
        why = f"reported by <@{reporter}>"
    else:
        why = "reported by a member" if reporter else "flagged by the verifier"
    where = f" in <#{review.channel_id}>" if review.channel_id.isdigit() else ""
    asker = f"<@{review.user_id}>" if review.user_id.isdigit() else escape(review.user_id)
    content = f"🚩 **Review #{review.id}**: {what} {why}; asked by {asker}{where}."
    embed = discord.Embed(
        title=clip(f"Q: {escape(review.question)}", EMBED_TITLE_LIMIT),
        description=clip(body, 3500),
        colour=discord.Colour.orange(),
    )
    if sources:
        embed.add_field(name="Sources", value=source_listing(sources), inline=False)
    embed.set_footer(text=f"{review.model} ({review.quantization}) · status: {review.status}")
    return content, embed


def source_listing(sources: list[SourceRef], limit: int = EMBED_FIELD_LIMIT) -> str:
    """One line per source document, `[n] [title](url)`, whole lines only, within `limit`."""
    groups = by_document(sources)
    lines, used = [], 0
    for group in groups:
        line = f"{source_numbers(group)} {link(clip(escape(group[0].title), 150), group[0].url)}"
        if used + len(line) + 1 > limit - 30:
            lines.append(f"…and {len(groups) - len(lines)} more.")
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def steps_from_dict(data: dict) -> NextSteps:
    """Next steps back from their stored form (NextSteps.to_dict's keys)."""
    return NextSteps(
        data["detail"],
        [Step(**step) for step in data.get("steps", [])],
        data.get("path", "general"),
        [SourceRef(**ref) for ref in data.get("sources", [])],
    )


def report_thanks(review_id: int, posted: bool, guild) -> str:
    """The reporter's thanks, saying who was really told."""
    if posted:
        return f"Thanks: the moderators have been sent this answer (review #{review_id})."
    if guild is None:
        return (
            f"Thanks: this answer is in the review queue of the bot's host (review #{review_id}); "
            "no server's moderators see direct messages."
        )
    return (
        f"Thanks: this answer is in this server's review queue (review #{review_id}). "
        "No moderators' channel is set, so no one has been told yet; an administrator "
        "can set one with /settings moderators."
    )


def review_groups(pending: list[Review]) -> list[list[Review]]:
    """Pending items grouped when they ask the same question or flag the same sentence
    (case, spacing and end punctuation aside; one decision usually settles them all), the
    groups with a contradicted sentence or a member's report first, then oldest first."""
    parent = list(range(len(pending)))  # union-find over the items, by shared keys

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, review in enumerate(pending):
        for key in _group_keys(review):
            j = first_with.setdefault(key, i)
            parent[root(i)] = root(j)
    groups: dict[int, list[Review]] = {}
    for i, review in enumerate(pending):
        groups.setdefault(root(i), []).append(review)

    def urgency(group: list[Review]) -> tuple[int, int]:
        urgent = any(_contradicted(r) or r.reporter_id for r in group)
        return (0 if urgent else 1, group[0].id)

    return sorted(groups.values(), key=urgency)


GROUPING_WORDS = 4  # a shorter flagged sentence ("It depends.") joins no questions


def _group_keys(review: Review) -> list[str]:
    return [f"q:{question_key(review.question)}"] + [
        f"s:{question_key(text)}" for text in _flagged_sentences(review)
    ]


def _flagged_sentences(review: Review) -> list[str]:
    return [
        s["text"]
        for s in review.answer.get("sentences", ())
        if s.get("status", "supported") != "supported"
        and len(s.get("text", "").split()) >= GROUPING_WORDS
    ]


def _contradicted(review: Review) -> bool:
    return any(s.get("status") == "contradicted" for s in review.answer.get("sentences", ()))


def review_group_line(group: list[Review]) -> str:
    """One question's items: the oldest to act on, how many more, and why they are urgent."""
    first = group[0]
    marks = []
    if any(_contradicted(r) for r in group):
        marks.append("❌ contradicts the sources")
    if any(r.reporter_id for r in group):
        marks.append("🚩 reported")
    more = f" (+{len(group) - 1} more: {', '.join(f'#{r.id}' for r in group[1:6])})"
    head = f"**#{first.id}**{more if len(group) > 1 else ''}"
    when = f"<t:{int(first.created_at)}:R>"
    line = " · ".join([head, *marks, when, clip(escape(first.question), 90)])
    questions = {question_key(r.question) for r in group}
    if len(questions) > 1:  # joined by a flagged sentence they share
        shared = _shared_sentence(group)
        line += f" · {len(questions)} questions"
        line += f", flagging “{clip(escape(shared), 80)}”" if shared else ""
    return line


def _shared_sentence(group: list[Review]) -> str | None:
    """The flagged sentence most of the group's items share."""
    counts: dict[str, tuple[int, str]] = {}
    for review in group:
        for text in {question_key(t): t for t in _flagged_sentences(review)}.values():
            n, first = counts.get(question_key(text), (0, text))  # the first spelling
            counts[question_key(text)] = (n + 1, first)
    best = max(counts.values(), default=(0, None))
    return best[1] if best[0] > 1 else None


def review_choice(review: Review) -> str:
    """A pending item as an autocomplete choice (plain text, at most 100 characters)."""
    marks = ("❌ " if _contradicted(review) else "") + ("🚩 " if review.reporter_id else "")
    question = " ".join(review.question.split())
    return clip(f"#{review.id} · {marks}{question}", 100)


def decision_line(review: Review, moderator: str, closed: list[Review] = ()) -> str:
    """A decision, and the items a correction closed with it (the same question)."""
    if review.status == "answered":
        return (
            f"✏️ Review #{review.id} closed: review #{review.answered_by}'s correction by "
            f"{escape(moderator)} answers the same question."
        )
    marks = {"approved": "✅", "rejected": "🚫", "corrected": "✏️"}
    line = f"{marks[review.status]} Review #{review.id} {review.status} by {escape(moderator)}."
    if closed:
        ids = ", ".join(f"#{r.id}" for r in closed[:20])
        more = f" and {len(closed) - 20} more" if len(closed) > 20 else ""
        line += f" The correction also closed {ids}{more}: the same question."
    return line


def outcome_text(review: Review) -> str:
    """What the original answer's channel is told once a moderator has decided."""
    if review.status == "approved":
        return "✅ Reviewed by a moderator: approved. The underlined sentences are acceptable."
    if review.status == "rejected":
        return "🚫 Reviewed by a moderator: rejected. Do not rely on the underlined sentences."
    # corrected, or answered by the correction of the same question
    correction = clip(escape(review.correction or ""), 1700).replace("\n", "\n> ")
    return (
        f"✏️ Reviewed by a moderator: corrected.\n> {correction}\n"
        "-# The correction is now one of my sources."
    )


# -- help and a member's data ------------------------------------------------------------

HELP_ABOUT = (
    "I teach AI model quantization (8-bit, 4-bit, and where quality breaks). I answer from "
    "a knowledge base of real sources, with numbered citations, and check every sentence "
    "of my own draft against them: what they do not back is __underlined__ and sent to "
    "this server's moderators to review."
)
HELP_BUTTONS = (
    "Under an answer: 👍 / 👎 rate it, 🧒 explains it more simply (just for you), 🚩 sends "
    "it to the moderators. Reply to one of my answers to ask a follow-up."
)
PRIVACY_NOTE = (
    "**What I store:** your questions with the answers you got, your ratings, your quiz "
    "progress and scores, and review items (answers flagged or reported, naming who asked "
    "and who reported).\n"
    "**Where:** in the database of whoever hosts this bot (not on Discord), kept until you "
    "ask me to forget it.\n"
    "**Your copy:** `/privacy export` sends it all to you as a JSON file.\n"
    "**Deleting it:** `/privacy forget` deletes your questions, ratings and quiz progress "
    "and takes your name off review items (the items stay: they are the moderators' record); "
    "it asks you to confirm first."
)
DATA_KINDS = {  # Store.forget_user's keys, in words
    "questions": ("question", "questions"),
    "feedback": ("rating", "ratings"),
    "quiz_sessions": ("quiz session", "quiz sessions"),
    "quiz_results": ("quiz score", "quiz scores"),
    "reviews": ("review item you asked", "review items you asked"),
    "reports": ("answer you reported", "answers you reported"),
}


def help_embed(commands: list[tuple[str, str]], menus: list[str]) -> discord.Embed:
    """/help: what the tutor does, every command and menu, and what it stores."""
    embed = discord.Embed(
        title="quantutor: a tutor for AI model quantization",
        description=HELP_ABOUT,
        colour=discord.Colour.blurple(),
    )
    lines = [f"`{name}`: {escape(description)}" for name, description in commands]
    for number, part in enumerate(split_message("\n".join(lines), EMBED_FIELD_LIMIT)):
        embed.add_field(name="Commands" if number == 0 else "\u200b", value=part, inline=False)
    if menus:
        embed.add_field(
            name="On any message (right-click or long-press → Apps)",
            value="\n".join(f"**{escape(menu)}**" for menu in menus),
            inline=False,
        )
    embed.add_field(name="Answers", value=HELP_BUTTONS, inline=False)
    embed.add_field(name="Your data", value=PRIVACY_NOTE, inline=False)
    return embed


def _counted(counts: dict[str, int]) -> str:
    parts = []
    for key in [*DATA_KINDS, *(k for k in counts if k not in DATA_KINDS)]:
        if n := counts.get(key, 0):
            one, many = DATA_KINDS.get(key, (key, key))
            parts.append(f"{n} {one if n == 1 else many}")
    return ", ".join(parts) or "nothing"


def export_text(rows: int) -> str:
    return (
        f"Here is everything I store about you ({rows} records), as JSON. "
        "`/privacy forget` deletes it."
    )


def forget_question(counts: dict[str, int]) -> str:
    return (
        f"This deletes what I store about you: {_counted(counts)}. Review items stay for the "
        "moderators but will no longer name you. It cannot be undone. Delete it?"
    )


def forgotten_text(counts: dict[str, int]) -> str:
    return f"🗑️ Done. Removed: {_counted(counts)}. I no longer store anything about you."


# -- the quiz -----------------------------------------------------------------------------


def question_embed(view: QuestionView, bank: str) -> discord.Embed:
    lines = [view.prompt, ""]
    lines += [f"**{letter}**) {option}" for letter, option in view.lettered_options]
    if view.free_text:
        lines.append("*Answer in your own words: press the button below.*")
    return discord.Embed(
        title=f"Question {view.number}/{view.total}",
        description=clip("\n".join(lines), EMBED_DESCRIPTION_LIMIT),
        colour=discord.Colour.blurple(),
    ).set_footer(text=f"Quiz: {bank}")


def result_embed(result: AnswerResult) -> discord.Embed:
    if result.correct:
        title, colour = f"✅ Question {result.number}: correct", discord.Colour.green()
    else:
        title, colour = f"❌ Question {result.number}: not quite", discord.Colour.red()
    answer = (
        f"{result.correct_letter}) {result.correct_answer}"
        if result.correct_letter
        else result.correct_answer
    )
    embed = discord.Embed(title=title, colour=colour)
    embed.add_field(name="Your answer", value=clip(escape(result.your_answer), 1000), inline=False)
    if not result.correct:
        embed.add_field(name="The answer", value=clip(answer, 1000), inline=False)
    embed.add_field(name="Why", value=clip(result.explanation, 1000), inline=False)
    if result.sources:
        embed.set_footer(text="Sources: " + ", ".join(result.sources))
    return embed


def summary_embed(summary: Summary) -> discord.Embed:
    lines = [f"You scored **{summary.score}/{summary.total}**."]
    for missed in summary.missed[:10]:
        lines.append(
            f"• Q{missed.number}: you said “{clip(escape(missed.your_answer), 150)}”; "
            f"the answer is “{clip(missed.correct_answer, 200)}”."
        )
    lines.append(f"\nAsk the tutor next: `/ask {summary.ask_next}`")
    return discord.Embed(
        title=f"🏁 {clip(summary.title, 240)}",
        description=clip("\n".join(lines), EMBED_DESCRIPTION_LIMIT),
        colour=discord.Colour.gold(),
    )
