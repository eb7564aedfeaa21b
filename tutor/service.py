"""The tutor service: the one facade the console, the command line and the Discord bot call."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from knowledge.index import KnowledgeIndex
from tutor import rag
from tutor.answer import Answer, Sentence
from tutor.guard import clean_text
from tutor.model import ModelWorker, load_model
from tutor.settings import Settings
from tutor.storage import Store
from tutor.text import citations_in, complete_sentences, repeats, strip_citations
from tutor.verify import Verifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asker:
    """Who asked and where; the console is user 'console' with no server."""

    user_id: str = "console"
    guild_id: str = ""
    channel_id: str = ""


class TutorService:
    def __init__(
        self, settings: Settings, index: KnowledgeIndex, store: Store, worker: ModelWorker
    ):
        self.settings = settings
        self.index = index
        self.store = store
        self.worker = worker
        self.verifier = Verifier(index.chunks)

    @classmethod
    def start(cls, settings: Settings, progress: bool = True) -> "TutorService":
        """Check the index (re-embedding changed sources), open the store, load the model."""
        index = KnowledgeIndex.from_settings(settings)
        report = index.sync(progress=progress)
        for error in report.errors:
            log.warning("source skipped: %s", error)
        store = Store(settings.database_path)
        loaded = load_model(settings.model, settings.quantization, settings.cache_dir)
        log.info("model ready: %s", loaded.describe())
        return cls(settings, index, store, ModelWorker(loaded))

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
    ) -> Answer:
        """Retrieve, lead with cited source sentences, draft, verify every draft sentence.

        `on_text` receives the draft so far, on the event loop, as the model writes it.
        """
        started = time.perf_counter()
        question = clean_text(question, self.settings.max_question_chars, what="question")
        answer = Answer(question, model=self.model_name, quantization=self.quantization)
        hits = await asyncio.to_thread(
            self.index.search, question, self.settings.top_k, self.settings.relevance_floor
        )
        answer.timings_ms["retrieve"] = _ms_since(started)
        if not hits:
            answer.kind = "not_covered" if rag.is_on_topic(question) else "off_topic"
            answer.message = (
                rag.not_covered_message(question, self.index.document_titles)
                if answer.kind == "not_covered"
                else rag.OFF_TOPIC_MESSAGE
            )
            self.store.log_question(asker.user_id, asker.guild_id, question, flagged=False)
            answer.timings_ms["total"] = _ms_since(started)
            return answer

        mark = time.perf_counter()
        answer.sources = rag.number_sources(hits)
        lead = await asyncio.to_thread(rag.lead_sentences, question, hits, answer.sources)
        answer.timings_ms["compose"] = _ms_since(mark)

        mark = time.perf_counter()
        generation = await self.generate(rag.build_messages(question, hits, mode), on_text)
        answer.timings_ms["draft"] = _ms_since(mark)
        answer.timings_ms["prefill"] = generation.prefill_ms

        mark = time.perf_counter()
        draft = await asyncio.to_thread(self._verified_draft, generation.text, hits, lead)
        answer.timings_ms["verify"] = _ms_since(mark)
        answer.sentences = lead + draft
        answer.timings_ms["total"] = _ms_since(started)

        self.store.log_question(asker.user_id, asker.guild_id, question, answer.flagged)
        if answer.flagged:
            answer.review_id = self.store.add_review(
                question, answer.to_dict(), asker.user_id, asker.guild_id, asker.channel_id
            )
        return answer

    async def generate(self, messages: list[dict], on_text: Callable[[str], None] | None = None):
        """Run one generation on the model worker, streaming text back onto this loop."""
        loop = asyncio.get_running_loop()
        so_far: list[str] = []

        def stream(piece: str) -> None:
            so_far.append(piece)
            loop.call_soon_threadsafe(on_text, "".join(so_far))

        request = self.worker.submit(
            messages, self.settings.max_new_tokens, stream if on_text else None
        )
        try:
            return await asyncio.wait_for(
                asyncio.wrap_future(request.future), self.settings.generation_timeout_s
            )
        except (TimeoutError, asyncio.CancelledError):
            request.cancelled.set()  # the worker stops this request at its next token
            raise

    def _verified_draft(self, draft: str, hits, lead: list[Sentence]) -> list[Sentence]:
        texts = [t for t in complete_sentences(draft) if not repeats(t, lead)]
        verdicts = self.verifier.check(texts, [hit.chunk for hit in hits])
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


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000
