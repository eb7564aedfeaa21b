"""The server runtime: the model behind an OpenAI-compatible server (vLLM, llama.cpp's
server, Ollama, TGI) that several bot processes share (QUANTUTOR_RUNTIME=server).

Requests are the same chat messages the other runtimes get; the server applies its
model's chat template. Each draft streams back as server-sent events into the same
PieceText the in-process runtimes' tokens go through, so streaming, the sentence stop,
cancellation and the time limit behave alike; stopping a draft closes its HTTP request,
which frees the server's slot. A batch from the worker is sent as that many requests at
once: the server batches them itself.

Every failure is one line naming the server and what to check. The API key is sent as
a bearer token and appears nowhere else (not in a message, a log line or a repr).
"""

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from tutor.errors import ModelError
from tutor.runtime.base import Generation, GenerationRequest, GenerationTimeout, PieceText

if TYPE_CHECKING:  # settings import the runtime package
    from tutor.settings import Settings

CONNECT_TIMEOUT_S = 5.0
QUANTIZATION = "server"  # whatever the server runs; its own name for it is not reported
NO_LIMIT_READ_TIMEOUT_S = 300.0  # a request without a time limit still gives up on silence


@dataclass
class ServerModel:
    """A model on an OpenAI-compatible server, behind the same interface as the others."""

    client: httpx.Client = field(repr=False)  # its headers carry the API key
    url: str
    name: str  # the model's name on the server, as its /models lists it
    load_seconds: float
    max_batch: int = 64  # the server batches what it is sent at once
    quantization: str = QUANTIZATION
    footprint_bytes: int = 0  # the weights are on the server, not in this process

    def describe(self) -> str:
        return f"{self.name} (on the model server at {self.url}, {self.load_seconds:.1f} s)"

    def generate_batch(self, requests: list[GenerationRequest]) -> list[Generation | Exception]:
        if len(requests) == 1:
            return [self._generate(requests[0])]
        with ThreadPoolExecutor(len(requests), thread_name_prefix="model-server") as pool:
            return list(pool.map(self._generate, requests))

    def _generate(self, request: GenerationRequest) -> Generation | Exception:
        started = request.started_at = time.perf_counter()
        text = PieceText(request)
        read_timeout = request.timeout_s or NO_LIMIT_READ_TIMEOUT_S
        try:
            first, usage, finished = self._stream(request, text, read_timeout)
        except httpx.TimeoutException:
            return GenerationTimeout(
                f"the model server at {self.url} sent nothing for {read_timeout:g} s"
            )
        except httpx.TransportError as error:
            return ModelError(_unreachable(self.url, error))
        except ModelError as error:
            return error
        except ValueError:  # an event that is not JSON
            return ModelError(
                f"The model server at {self.url} streamed something other than OpenAI's "
                "server-sent events; check QUANTUTOR_SERVER_URL."
            )
        if not (finished or text.done or request.should_stop()):
            return ModelError(
                f"The model server at {self.url} ended a draft unfinished (llama-cpp-python's "
                "server does when another request arrives: start it with "
                "--interrupt_requests False)."
            )
        text.finish()
        prompt_tokens = usage.get("prompt_tokens", 0)  # servers that report usage
        return request.stop_reason or text.generation(prompt_tokens, started, first or started)

    def _stream(self, request: GenerationRequest, text: PieceText, read_timeout: float):
        """Stream the draft into `text`: (first piece's time, usage, whether the server said
        the draft was finished). Leaving early closes the request, and the server stops."""
        first, usage, finished = None, {}, False
        with self.client.stream(
            "POST",
            "chat/completions",
            json=self._body(request),
            timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT_S),
        ) as response:
            _raise_for_status(response, self.url, self.name)
            for event in _events(response):
                usage = event.get("usage") or usage
                choices = event.get("choices") or ()  # the usage event has none
                finished = finished or any(c.get("finish_reason") for c in choices)
                for piece in _pieces(choices):
                    first = first or time.perf_counter()
                    text.add(piece)
                if text.done or request.should_stop():
                    break
        return first, usage, finished

    def _body(self, request: GenerationRequest) -> dict:
        return {
            "model": self.name,
            "messages": request.messages,
            "max_tokens": request.max_new_tokens,
            "temperature": 0.0,  # greedy, as the in-process runtimes draft
            "stream": True,
            "stream_options": {"include_usage": True},
        }


def connect_server(settings: "Settings") -> ServerModel:
    """The configured server's model, once the server has answered and listed it; or one
    ModelError saying what to fix."""
    if not settings.server_url or not settings.server_model:
        raise ModelError(
            "QUANTUTOR_RUNTIME=server needs QUANTUTOR_SERVER_URL (an OpenAI-compatible /v1 "
            "base, e.g. http://localhost:8080/v1) and QUANTUTOR_SERVER_MODEL (the model's "
            "name on that server)."
        )
    url = settings.server_url.rstrip("/")
    key = settings.server_api_key
    headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
    client = httpx.Client(
        base_url=url + "/", headers=headers, timeout=httpx.Timeout(CONNECT_TIMEOUT_S * 2)
    )
    started = time.perf_counter()
    served = _served_models(client, url, settings.server_model)
    if settings.server_model not in served:
        client.close()
        raise ModelError(
            f"QUANTUTOR_SERVER_MODEL: the model server at {url} has no model "
            f"{settings.server_model!r}; it serves {', '.join(map(repr, served)) or 'none'}."
        )
    return ServerModel(client, url, settings.server_model, time.perf_counter() - started)


def _served_models(client: httpx.Client, url: str, model: str) -> list[str]:
    try:
        response = client.get("models")
    except httpx.TimeoutException:
        raise ModelError(
            f"The model server at {url} did not answer within {CONNECT_TIMEOUT_S * 2:g} s."
        ) from None
    except httpx.TransportError as error:
        raise ModelError(_unreachable(url, error)) from None
    _raise_for_status(response, url, model)
    try:
        return [entry["id"] for entry in response.json()["data"]]
    except (ValueError, KeyError, TypeError):
        raise ModelError(
            f"QUANTUTOR_SERVER_URL: {url}/models is not an OpenAI-compatible model list; "
            "the URL should end in the API's /v1."
        ) from None


def _raise_for_status(response: httpx.Response, url: str, model: str) -> None:
    if response.status_code < 400:
        return
    response.read()
    said = _server_message(response)
    if response.status_code in (401, 403):
        raise ModelError(
            f"The model server at {url} refused the API key (HTTP {response.status_code}: "
            f"{said}); check QUANTUTOR_SERVER_API_KEY."
        )
    if response.status_code == 404:
        raise ModelError(
            f"The model server at {url} has no {model!r} (HTTP 404: {said}); check "
            "QUANTUTOR_SERVER_MODEL and that QUANTUTOR_SERVER_URL ends in /v1."
        )
    raise ModelError(f"The model server at {url} answered HTTP {response.status_code}: {said}")


def _server_message(response: httpx.Response) -> str:
    """The server's own reason, on one line: OpenAI's error.message, or what else it said."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        error = body.get("error")
        body = (error.get("message") if isinstance(error, dict) else error) or body.get(
            "message", body.get("detail", body)
        )
    lines = str(body).strip().splitlines()
    return lines[0][:200] if lines else response.reason_phrase


def _unreachable(url: str, error: Exception) -> str:
    reason = (
        str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    )
    return (
        f"The model server at {url} is not reachable ({reason}); start it, or fix "
        "QUANTUTOR_SERVER_URL."
    )


def _events(response: httpx.Response) -> Iterator[dict]:
    """The JSON payloads of a server-sent event stream, up to its [DONE]."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue  # blank separators, comments, event names
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


def _pieces(choices) -> Iterator[str]:
    for choice in choices:
        piece = (choice.get("delta") or {}).get("content")
        if piece:
            yield piece
