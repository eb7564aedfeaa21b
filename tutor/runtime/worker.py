"""The model worker: one thread owns the model; callers submit requests and await results."""

import ctypes
import ctypes.util
import logging
import queue
import threading
import time

from tutor.runtime.base import GenerationRequest, Model

log = logging.getLogger(__name__)


class ModelWorker:
    """One thread owns the model; callers submit requests and await the results.

    Generation never runs on the asyncio event loop. Requests that arrive together
    are generated as one left-padded batch (greedy, so each gets the tokens it would
    get alone), which multiplies throughput when many learners ask at once. A
    cancelled or timed-out request stops at its next token without disturbing the
    others in its batch.
    """

    def __init__(self, loaded: Model, max_batch: int = 8, batch_window_s: float = 0.01):
        self.loaded = loaded
        self.max_batch = min(max_batch, loaded.max_batch)
        self.batch_window_s = batch_window_s
        self._queue: queue.Queue[GenerationRequest | None] = queue.Queue()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="model-worker", daemon=True)
        self._thread.start()

    def submit(self, request: GenerationRequest) -> GenerationRequest:
        self._queue.put(request)
        return request

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._closing:
            batch = self._collect()
            live = [r for r in batch if r.future.set_running_or_notify_cancel()]
            for request in [r for r in live if r.should_stop()]:
                live.remove(request)
                request.future.set_exception(request.stop_reason)
            if not live:
                continue
            try:
                results = self.loaded.generate_batch(live)
            except Exception as error:  # one failed batch must not stop the worker
                log.exception("generation failed")
                results = [error] * len(live)
            for request, result in zip(live, results):
                if isinstance(result, BaseException):
                    request.future.set_exception(result)
                else:
                    request.future.set_result(result)
            _trim_heap()

    def _collect(self) -> list[GenerationRequest]:
        """The next request, plus whatever else arrives within the batch window."""
        first = self._queue.get()
        if first is None:
            self._closing = True
            return []
        batch = [first]
        deadline = time.perf_counter() + self.batch_window_s
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            if item is None:
                self._closing = True
                break
            batch.append(item)
        return batch


def _load_libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return libc if hasattr(libc, "malloc_trim") else None  # glibc only
    except OSError:
        return None


_LIBC = _load_libc()


def _trim_heap() -> None:
    """Give the pages a batch freed back to the system. glibc keeps them otherwise, and
    the process grows by every batch's activations: in a 250-question soak this held
    peak RSS at 1274 MB instead of 1628 MB, for about 3% of the time."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
