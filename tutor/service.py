"""The tutor service: the one facade the console, the command line and the Discord bot call."""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import yaml

from knowledge.documents import load_topics
from knowledge.index import KnowledgeIndex
from quiz.engine import QuestionView
from tutor import memory, rag
from tutor.answer import Answer, Asker, Sentence, SourceRef
from tutor.checker import ensure_checker
from tutor.checker.model import Checker
from tutor.errors import GuardError
from tutor.guard import MAX_CORRECTION_CHARS, clean_text
from tutor.lab.report import lab_files
from tutor.logs import describe_phases
from tutor.quizzes import QuizDesk, QuizTurn
from tutor.runtime import Model, load_configured
from tutor.runtime.base import GenerationRequest
from tutor.runtime.worker import ModelWorker
from tutor.settings import Settings
from tutor.steps import (
    STEP_PROMPT,
    NextSteps,
    Step,
    best_fitting,
    document_candidates,
    fallback_steps,
    parse_steps,
)
from tutor.storage import LoggedQuestion, QuizScore, Review, Store
from tutor.text import (
    citations_in,
    complete_sentences,
    repeats,
    strip_citations,
)
from tutor.verify import Verifier

log = logging.getLogger(__name__)

STEPS_MAX_NEW_TOKENS = 120  # two steps and two risks need more room than an answer


def build_verifier(
    index: KnowledgeIndex, settings: Settings, checker: Checker | None = None
) -> Verifier:
    """The verifier over the index's chunks, its sentence embeddings cached beside the index,
    with the learned checker (trained once into the cache when it is missing)."""
    checker = checker or ensure_checker(settings.cache_dir)
    return Verifier(index.chunks, settings.index_dir / "verifier-vectors.npz", checker)


class _PhaseClock:
    """Seconds per named phase, each measured from the end of the one before."""

    def __init__(self):
        self.phases: dict[str, float] = {}
        self._since = time.perf_counter()

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases[phase] = now - self._since
        self._since = now


class TutorService:
    def __init__(
        self, settings: Settings, index: KnowledgeIndex, store: Store, worker: ModelWorker
    ):
        self.settings = settings
        self.index = index
        self.store = store
        self.worker = worker
        self.quizzes = QuizDesk(store)
        self._restore_corrections()
        self.verifier = build_verifier(index, settings)
        self.startup_s: dict[str, float] = {}
        self._topics: list[str] | None = None

    @classmethod
    def start(
        cls, settings: Settings, progress: bool = True, model: Model | None = None
    ) -> "TutorService":
        """Check the index (re-embedding changed sources), open the store, load the model
        (or use `model`: tests not about the model pass a FakeModel), and embed the
        sources' sentences for the verifier; each phase's seconds are kept in `startup_s`."""
        clock = _PhaseClock()
        index = KnowledgeIndex.from_settings(settings)
        report = index.sync(progress=progress)
        for error in report.errors:
            log.warning("source skipped: %s", error)
        clock.mark("index")
        store = Store.from_settings(settings)
        clock.mark("store")
        loaded = model or load_configured(settings)
        log.info("model ready: %s", loaded.describe())
        clock.mark("model")
        service = cls(settings, index, store, ModelWorker(loaded, max_batch=settings.max_batch))
        clock.mark("verifier")
        service.startup_s = clock.phases
        total = sum(clock.phases.values())
        log.info("tutor started in %.1f s (%s)", total, describe_phases(clock.phases))
        return service

    def close(self) -> None:
        self.worker.close()
        self.store.close()

    @property
    def model_name(self) -> str:
        return self.worker.loaded.name

    @property
    def quantization(self) -> str:
        return self.worker.loaded.quantization

    # -- answers ------------------------------------------------------------------

    async def ask(
        self,
        question: str,
        asker: Asker = Asker(),
        on_text: Callable[[str], None] | None = None,
        mode: str = "answer",
        previous: str | None = None,
    ) -> Answer:
        """Retrieve, lead with cited source sentences, draft, verify every draft sentence.

        `on_text` receives the draft so far, on the event loop, as the model writes it.
        `previous` is the question this one follows up: it joins the retrieval query and
        the prompt, so "and in 4-bit?" is read as about what was asked before.
        """
        started = time.perf_counter()
        question = clean_text(question, self.settings.max_question_chars, what="question")
        answer = Answer(question, model=self.model_name, quantization=self.quantization)
        answer.request_id = uuid.uuid4().hex[:12]
        estimate = memory.from_question(question)
        # a card's generation finds what support tables say of it; the arithmetic needs none
        about = question if estimate else memory.with_generation(question)
        query = f"{previous} {about}" if previous else about
        pool = await asyncio.to_thread(
            self.index.search,
            query,
            max(self.settings.top_k, rag.LEAD_ANSWER_CHUNKS),
            self.settings.relevance_floor,
        )
        hits = pool[: self.settings.top_k]  # what the model is given and the draft checked on
        answer.timings_ms["retrieve"] = _ms_since(started)
        if not hits and estimate is None:
            on_topic = await asyncio.to_thread(self.index.is_on_topic, question)
            answer.kind = "not_covered" if on_topic else "off_topic"
            answer.message = (
                rag.not_covered_message(question, self.index.document_titles)
                if answer.kind == "not_covered"
                else rag.OFF_TOPIC_MESSAGE
            )
            await asyncio.to_thread(
                self.store.log_question, asker.user_id, asker.guild_id, question, flagged=False
            )
            answer.timings_ms["total"] = _ms_since(started)
            _log_answer(answer, asker)
            return answer

        mark = time.perf_counter()
        closeness = await asyncio.to_thread(self.index.answer_closeness, about)
        pool = rag.with_answering_chunks(pool, self.index.chunks, closeness, self.verifier)
        answer.sources = rag.number_sources(pool)
        lead = await asyncio.to_thread(
            rag.lead_sentences, about, pool, answer.sources, self.verifier, closeness
        )
        answer.sources = rag.keep_cited(answer.sources, lead, len(hits))
        lead = await asyncio.to_thread(self._premise_checked, question, hits) + lead
        if names := self.index.unknown_names(question):
            lead.insert(0, rag.unmentioned(names))
        answer.timings_ms["compose"] = _ms_since(mark)
        if estimate is not None:  # the arithmetic answers it: no draft to repeat 7B figures
            answer.sentences = self._arithmetic(estimate, answer.sources) + lead
            return await self._finished(answer, asker, started)

        mark = time.perf_counter()
        asked = f"{question} (a follow-up to: {previous})" if previous else question
        messages = rag.build_messages(asked, hits, rag.SYSTEM_PROMPTS[mode])
        generation = await self.generate(messages, on_text, max_sentences=rag.DRAFT_SENTENCES[mode])
        answer.timings_ms["draft"] = _ms_since(mark)
        answer.timings_ms["prefill"] = generation.prefill_ms
        answer.model_text = generation.text

        mark = time.perf_counter()
        draft = await asyncio.to_thread(self._verified_draft, question, generation.text, hits, lead)
        answer.timings_ms["verify"] = _ms_since(mark)
        answer.sentences = lead + draft
        return await self._finished(answer, asker, started)

    async def _finished(self, answer: Answer, asker: Asker, started: float) -> Answer:
        answer.timings_ms["total"] = _ms_since(started)
        await asyncio.to_thread(self._record, answer, asker)
        _log_answer(answer, asker)
        return answer

    def _arithmetic(self, estimate: memory.Estimate, sources: list[SourceRef]) -> list[Sentence]:
        """The estimate's lines as sentences, each citing the sources of its inputs (added
        to the answer's sources where retrieval did not bring them)."""
        numbers = {ref.doc_id: ref.n for ref in sources}
        sentences = []
        for line in estimate.lines:
            for doc_id in line.doc_ids:
                added = doc_id not in numbers and self._source_for(
                    doc_id, len(sources) + 1, line.text
                )
                if added:
                    sources.append(added)
                    numbers[doc_id] = added.n
            cited = [numbers[d] for d in line.doc_ids if d in numbers]
            sentences.append(Sentence(line.text, "supported", 1.0, cited, origin="arithmetic"))
        return sentences

    def _record(self, answer: Answer, asker: Asker) -> None:
        """Log the question with its answer; a flagged answer also goes to the review queue."""
        answer.question_id = self.store.log_question(
            asker.user_id, asker.guild_id, answer.question, answer.flagged, answer.to_dict()
        )
        if answer.flagged:
            answer.review_id = self.store.add_review(
                answer.question, answer.to_dict(), asker.user_id, asker.guild_id, asker.channel_id
            )

    async def generate(
        self,
        messages: list[dict],
        on_text: Callable[[str], None] | None = None,
        max_new_tokens: int | None = None,
        max_sentences: int | None = None,
    ):
        """Run one generation on the model worker, streaming text back onto this loop."""
        loop = asyncio.get_running_loop()
        so_far: list[str] = []

        def stream(piece: str) -> None:
            so_far.append(piece)
            loop.call_soon_threadsafe(on_text, "".join(so_far))

        request = self.worker.submit(
            GenerationRequest(
                messages,
                max_new_tokens or self.settings.max_new_tokens,
                stream if on_text else None,
                timeout_s=self.settings.generation_timeout_s,
                max_sentences=max_sentences,
            )
        )
        try:
            # The worker enforces the time limit from when the draft starts, so waiting
            # in line behind other learners does not count against it.
            return await asyncio.wrap_future(request.future)
        except asyncio.CancelledError:
            request.cancelled.set()  # the worker stops this request at its next token
            raise

    def _premise_checked(self, question: str, hits) -> list[Sentence]:
        """When the sources contradict or do not go as far as what the question assumes, the
        answer says so first."""
        premises = rag.premises_of(question)
        if not premises:
            return []
        verdicts = self.verifier.check(premises, [hit.chunk for hit in hits])
        asks_why = question.lstrip().lower().startswith("why")
        corrections = [
            rag.premise_correction(premise, verdict, asks_why)
            for premise, verdict in zip(premises, verdicts, strict=True)
        ]
        return [correction for correction in corrections if correction is not None][:1]

    def _verified_draft(
        self, question: str, draft: str, hits, lead: list[Sentence]
    ) -> list[Sentence]:
        said = [sentence.text for sentence in lead]
        texts = []
        for text in complete_sentences(draft):  # small models repeat themselves
            if not repeats(text, said):
                texts.append(text)
                said.append(text)
        verdicts = self.verifier.check(texts, [hit.chunk for hit in hits], question)
        sentences = []
        for text, verdict in zip(texts, verdicts):
            cited = [n for n in citations_in(text) if 1 <= n <= len(hits)]
            if verdict.evidence is not None and verdict.status == "supported":
                cited = [verdict.evidence + 1]  # cite the source that actually backs it
            sentences.append(
                Sentence(
                    strip_citations(text),
                    verdict.status,
                    round(verdict.score, 3),
                    cited,
                    verdict.reason,
                    origin="draft",
                )
            )
        return sentences

    # -- next steps -----------------------------------------------------------------

    async def steps(self, detail: str) -> NextSteps:
        """Two next steps for one detail of the lesson, each with one reason it might be wrong:
        the retrieved documents' own, then the model's, then the general cautions."""
        detail = clean_text(detail, self.settings.max_question_chars, what="detail")
        hits = await asyncio.to_thread(
            self.index.search, detail, self.settings.top_k, self.settings.relevance_floor
        )
        sources = rag.number_sources(hits)
        chosen = await asyncio.to_thread(self._document_steps, detail, hits, sources)
        if len(chosen) == 2:
            return NextSteps(detail, chosen, "sources", sources)
        if hits:
            messages = rag.build_messages(detail, hits, STEP_PROMPT)
            generation = await self.generate(messages, max_new_tokens=STEPS_MAX_NEW_TOKENS)
            proposed = parse_steps(generation.text) or []
            backed = await asyncio.to_thread(self._backed, proposed, [h.chunk for h in hits])
            if len(backed) == 2:
                return NextSteps(detail, backed, "model", sources)
        general = fallback_steps(sources, self._source_for)
        chosen += [g for g in general if g.step not in {c.step for c in chosen}]
        return NextSteps(detail, chosen[:2], "general", sources)

    def _document_steps(self, detail: str, hits, sources: list[SourceRef]) -> list[Step]:
        """The two of the retrieved documents' own steps that fit the detail best, each
        citing its document (curated with it: the risk states what the document says)."""
        candidates = best_fitting(detail, document_candidates(hits, sources, self.index.document))
        return [Step(c.step, c.risk, [c.n]) for c in candidates[:2]]

    def _backed(self, proposed: list[Step], chunks) -> list[Step]:
        """The model's steps whose risk the sources back, each citing the backing source."""
        verdicts = self.verifier.check([s.risk for s in proposed], chunks)
        backed = []
        for step, verdict in zip(proposed, verdicts):
            if verdict.status == "supported" and verdict.evidence is not None:
                step.citations = [verdict.evidence + 1]
                backed.append(step)
        return backed

    def _source_for(self, doc_id: str, n: int, about: str) -> SourceRef | None:
        """Document `doc_id` as source `n`, quoting the sentence of it closest to `about`
        (the arithmetic line or the risk it backs), not merely its first."""
        chunks = [c for c in self.index.chunks if c.doc_id == doc_id]
        if not chunks:  # skipped when indexing, or missing from a shared index
            log.warning("a curated table names %s, which is not in the index", doc_id)
            return None
        quote = rag.closest_sentence(about, chunks, self.verifier)
        first = chunks[0]
        return SourceRef(n, first.title, first.source, quote, first.url, doc_id)

    # -- what can be asked ------------------------------------------------------------

    def explain_topics(self) -> list[str]:
        """What /explain offers while a member types: the knowledge base's topics
        (knowledge/topics.yaml: each title's head, then the terms it lists), then the
        documents' titles (curated and the host's own; not moderators' corrections)."""
        if self._topics is None:
            names = []
            for topic in load_topics():
                head, _, terms = topic["title"].partition(": ")
                names += [head, *(t.strip() for t in terms.split(",") if t.strip())]
            names += sorted({c.title for c in self.index.chunks if c.trusted != "moderator"})
            unique: dict[str, str] = {}  # the first spelling of each, case aside
            for name in names:
                unique.setdefault(name.casefold(), name)
            self._topics = list(unique.values())
        return list(self._topics)

    # -- the lab --------------------------------------------------------------------

    def lab_report(self) -> tuple[str, Path | None] | None:
        """The latest `quantutor lab` report (Markdown) and its chart, if the lab has run."""
        chart, markdown, _ = lab_files(self.settings)
        if not markdown.is_file():
            return None
        return markdown.read_text(encoding="utf-8"), chart if chart.is_file() else None

    # -- checking a lone claim ------------------------------------------------------

    def verify_claim(self, claim: str) -> dict:
        return claim_report(self.verifier, claim, self.settings.max_question_chars)

    # -- the moderators' review queue ----------------------------------------------

    def resolve_review(
        self, review_id: int, decision: str, moderator: str, correction: str | None = None
    ) -> Review:
        """Approve, reject or correct a flagged answer, once.

        A correction becomes a moderator-verified source: written, indexed and cited; and
        it closes the server's other pending items asking the same question (see
        `answered_by`).
        """
        if decision == "corrected":
            correction = _clean_correction(correction or "")
        review = self.store.resolve_review(review_id, decision, moderator, correction)
        if review.status == "corrected":
            closed = self.store.close_answered(review.id)
            if closed:
                log.info("review #%s's correction closed #%s", review.id, [r.id for r in closed])
            self._write_correction(review)
            self.index.sync(progress=False)
            self.verifier = build_verifier(self.index, self.settings, self.verifier.checker)
        return review

    @property
    def corrections_dir(self):
        return self.settings.data_dir / "corrections"

    def _write_correction(self, review: Review) -> None:
        when = datetime.fromtimestamp(review.resolved_at or time.time(), UTC).date()
        title = f"Moderator correction: {review.question[:80]}"
        front = {
            "title": title,
            # Cited in every answer that uses it: who corrected it stays in the review record.
            "source": f"quantutor moderators, review #{review.id}, {when}",
            "url": "",
            "license": "CC-BY-4.0 (written by the server's moderators)",
        }
        body = f"# {title}\n\n{review.correction}\n"
        self.corrections_dir.mkdir(parents=True, exist_ok=True)
        path = self.corrections_dir / f"review-{review.id}.md"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"---\n{yaml.safe_dump(front, allow_unicode=True)}---\n{body}")
        tmp.replace(path)

    def _restore_corrections(self) -> None:
        """A crash between storing a correction and writing its source is mended at start."""
        missing = [
            r
            for r in self.store.corrections()
            if not (self.corrections_dir / f"review-{r.id}.md").exists()
        ]
        for review in missing:
            self._write_correction(review)
        if missing:
            self.index.sync(progress=False)

    # -- the store, off the event loop ----------------------------------------------
    # Every store call is a round trip to the database (over the network with PostgreSQL):
    # these run it in a worker thread, so a front end on an event loop never waits on it.

    async def logged_question(self, question_id: int) -> LoggedQuestion | None:
        """A question as asked, with its answer; None once its asker's data was forgotten."""
        return await asyncio.to_thread(self.store.logged_question, question_id)

    async def rate_answer(self, user_id: str, logged: LoggedQuestion, helpful: bool) -> bool:
        """Keep a member's rating of one answer; False (nothing kept) if they had rated it."""

        def rate() -> bool:
            if self.store.has_rated(user_id, logged.id):
                return False
            self.store.add_feedback(user_id, logged.question, helpful, logged.id)
            return True

        return await asyncio.to_thread(rate)

    async def report_answer(
        self, logged: LoggedQuestion, channel_id: str, message_id: str, reporter_id: str = ""
    ) -> tuple[int, bool]:
        """Send an answer (posted as `message_id`) that `reporter_id` reported to the review
        queue, once per message: the item's number, and whether this report made it."""

        def report() -> tuple[int, bool]:
            existing = self.store.review_for_message(message_id) if message_id else None
            if existing is not None:
                return existing, False
            review_id = self.store.add_review(
                logged.question,
                logged.answer,
                logged.user_id,
                logged.guild_id,
                channel_id,
                message_id,
                reporter_id,
            )
            return review_id, True

        return await asyncio.to_thread(report)

    async def record_steps(self, steps: NextSteps, asker: Asker) -> int:
        """Log the next steps given for a detail (as a question whose answer is the steps),
        so that a report of them can reach the review queue like an answer's; the id."""
        answer = {
            "question": steps.detail,
            "kind": "steps",
            "answer": steps.render(),  # what the console's review queue shows
            **steps.to_dict(),
            "model": self.model_name,
            "quantization": self.quantization,
        }
        return await asyncio.to_thread(
            self.store.log_question, asker.user_id, asker.guild_id, steps.detail, False, answer
        )

    async def guild_settings(self, guild_id: str) -> dict:
        """One server's stored settings ({} for a server that has changed none)."""
        return await asyncio.to_thread(self.store.guild_settings, guild_id)

    async def update_guild_settings(self, guild_id: str, **changes) -> dict:
        """Merge `changes` into one server's settings; the settings after the change."""
        return await asyncio.to_thread(self.store.update_guild_settings, guild_id, **changes)

    async def pending_reviews(self, guild_id: str, limit: int) -> list[Review]:
        """One server's pending review items, oldest first, at most `limit`."""
        return await asyncio.to_thread(self.store.list_reviews, "pending", limit, guild_id)

    async def get_review(self, review_id: int) -> Review:
        """One review item; a ReviewError if there is none."""
        return await asyncio.to_thread(self.store.get_review, review_id)

    async def answered_by(self, review_id: int) -> list[Review]:
        """The items a correction closed, as asking the same question."""
        return await asyncio.to_thread(self.store.answered_by, review_id)

    async def set_review_message(self, review_id: int, channel_id: str, message_id: str) -> None:
        """Remember where a flagged answer was posted, for the outcome reply."""
        await asyncio.to_thread(self.store.set_review_message, review_id, channel_id, message_id)

    async def set_review_post(self, review_id: int, channel_id: str, message_id: str) -> None:
        """Remember the moderators' post of an item (its buttons), to retire once decided."""
        await asyncio.to_thread(self.store.set_review_post, review_id, channel_id, message_id)

    # -- a member's own data (/privacy) ----------------------------------------------

    async def member_data(self, user_id: str) -> dict:
        """Everything stored about one member (Store.export_user's tables)."""
        return await asyncio.to_thread(self.store.export_user, user_id)

    async def member_data_counts(self, user_id: str) -> dict[str, int]:
        """How much forgetting the member would remove, by kind."""
        return await asyncio.to_thread(self.store.user_data_counts, user_id)

    async def forget_member(self, user_id: str) -> dict[str, int]:
        """Delete the member's questions, ratings and quiz progress, and their name on review
        items (asked or reported); how many of each."""
        counts = await asyncio.to_thread(self.store.forget_user, user_id)
        log.info("a member's data was forgotten at their request (%s)", counts)
        return counts

    async def quiz_start(self, user_id: str, guild_id: str, bank: str) -> QuestionView:
        """The current question of an unfinished quiz, or the first of a new one."""
        return await asyncio.to_thread(self.quizzes.start, user_id, guild_id, bank)

    async def quiz_thread(self, user_id: str, guild_id: str, bank: str) -> str:
        """The thread a member's quiz runs in, to reuse ("" when none)."""
        return await asyncio.to_thread(self.store.quiz_thread, user_id, guild_id, bank)

    async def set_quiz_thread(self, user_id: str, guild_id: str, bank: str, thread_id: str) -> None:
        """Keep (or with "" forget) the thread of a started quiz."""
        await asyncio.to_thread(self.store.set_quiz_thread, user_id, guild_id, bank, thread_id)

    async def quiz_current(self, user_id: str, guild_id: str, bank: str) -> QuestionView | None:
        """The question an unfinished quiz is on, or None."""
        return await asyncio.to_thread(self.quizzes.current, user_id, guild_id, bank)

    async def quiz_answer(
        self, user_id: str, guild_id: str, bank: str, question_id: str, reply: str | int
    ) -> QuizTurn:
        """Grade one answer and save it with the session."""
        return await asyncio.to_thread(
            self.quizzes.answer, user_id, guild_id, bank, question_id, reply
        )

    async def quiz_score(self, user_id: str, guild_id: str, bank: str) -> QuizScore | None:
        """A member's best and latest score on one bank here, or None before a finished quiz."""
        return await asyncio.to_thread(self.quizzes.score, user_id, guild_id, bank)

    async def quiz_leaderboard(self, guild_id: str, bank: str) -> list[QuizScore]:
        """The best scores on one bank on one server."""
        return await asyncio.to_thread(self.quizzes.leaderboard, guild_id, bank)


def _clean_correction(text: str) -> str:
    """A moderator's correction cleaned like a question, line by line: its lines and
    paragraphs are kept (a blank line, or one of only symbols, stays a paragraph break)."""
    clean_text(text, MAX_CORRECTION_CHARS, what="correction")  # too long or empty: refused
    lines = []
    for line in text.splitlines():
        try:
            lines.append(clean_text(line, MAX_CORRECTION_CHARS, what="correction"))
        except GuardError:
            if lines and lines[-1]:
                lines.append("")
    return "\n".join(lines).strip()


def claim_report(verifier: Verifier, claim: str, max_chars: int) -> dict:
    """One claim checked against the whole knowledge base, in the CLI's JSON shape."""
    claim = clean_text(claim, max_chars, what="claim")
    verdict, evidence = verifier.check_claim(claim)
    return {
        "claim": claim,
        "status": verdict.status,
        "flagged": verdict.flagged,
        "score": round(verdict.score, 3),
        "reason": verdict.reason,
        "sources": [
            {"n": n, "title": c.title, "source": c.source, "url": c.url, "quote": c.text}
            for n, c in enumerate(evidence, start=1)
        ],
    }


def _log_answer(answer: Answer, asker: Asker) -> None:
    log.info(
        "answered",
        extra={
            "request_id": answer.request_id,
            "user": asker.user_id,
            "guild": asker.guild_id,
            "kind": answer.kind,
            "flagged": answer.flagged,
            "review_id": answer.review_id,
            "ms": round(answer.timings_ms.get("total", 0.0)),
        },
    )


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000
