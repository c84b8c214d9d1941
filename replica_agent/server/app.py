"""The HTTP server: OpenAI-compatible completions (plain and SSE), models, health and metrics.

Handlers validate and tokenize, hand requests to the engine thread (worker.py), and turn the token
stream back into text: incremental detokenization, `stop` strings (cut the text and abort the
request with reason "stop"), and an abort whenever the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from replica_agent.config import EngineConfig
from replica_agent.engine import InvalidRequestError, LLMEngine, QueueFullError, RequestOutput
from replica_agent.metrics import CONTENT_TYPE, AgentMetrics
from replica_agent.model.loader import LoadedModel
from replica_agent.model.runner import ModelRunner
from replica_agent.server import protocol
from replica_agent.server.protocol import ParsedRequest, ProtocolError
from replica_agent.server.stream import Choice, Group
from replica_agent.server.worker import EngineWorker
from replica_agent.tokenizer import Detokenizer, Tokenizer


@dataclass
class ServedModel:
    engine: LLMEngine
    tokenizer: Tokenizer
    name: str
    vocab_size: int
    random_weights: bool = False

    @classmethod
    def build(cls, loaded: LoadedModel, config: EngineConfig) -> ServedModel:
        """An engine over a fresh ModelRunner (which allocates the KV cache) for a loaded model."""
        runner = ModelRunner(loaded.model, config.num_blocks, config.block_size)
        return cls(LLMEngine(config, runner), loaded.tokenizer, loaded.name, loaded.model.config.vocab_size,
                   loaded.random_weights)


def _error(exc: ProtocolError) -> JSONResponse:
    return JSONResponse(protocol.error_body(str(exc), exc.kind, exc.param), status_code=exc.status)


async def _wait_disconnect(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


class Server:
    def __init__(self, served: ServedModel, metrics: AgentMetrics | None = None) -> None:
        self.served = served
        self.metrics = metrics or AgentMetrics()
        self.worker = EngineWorker(served.engine, self.metrics)
        self.ready = False

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.worker.start()
        self.ready = True
        try:
            yield
        finally:
            self.ready = False
            self.worker.stop()

    def app(self) -> Starlette:
        routes = [
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/models", self.models),
            Route("/health", self.health),
            Route("/metrics", self.prom),
        ]
        return Starlette(routes=routes, lifespan=self.lifespan)

    # ---- small endpoints ---------------------------------------------------------------------------
    async def health(self, request: Request) -> Response:
        if not self.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        if not self.worker.alive:
            return JSONResponse({"status": "engine thread stopped"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def models(self, request: Request) -> Response:
        s = self.served
        card = {
            "id": s.name,
            "object": "model",
            "created": 0,
            "owned_by": "replica-agent",
            "max_model_len": s.engine.config.max_model_len,
            "random_weights": s.random_weights,
        }
        return JSONResponse({"object": "list", "data": [card]})

    async def prom(self, request: Request) -> Response:
        stats = await asyncio.wrap_future(self.worker.stats())
        return Response(self.metrics.render(stats), media_type=CONTENT_TYPE)

    # ---- completions --------------------------------------------------------------------------------
    async def completions(self, request: Request) -> Response:
        return await self._serve(request, chat=False)

    async def chat(self, request: Request) -> Response:
        return await self._serve(request, chat=True)

    async def _serve(self, request: Request, chat: bool) -> Response:
        s = self.served
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(ProtocolError("the request body is not valid JSON"))
        try:
            parsed = protocol.parse_request(
                body, chat, s.tokenizer, s.vocab_size, s.engine.config.max_model_len
            )
        except ProtocolError as exc:
            return _error(exc)
        except ValueError as exc:  # SamplingParams' own checks
            return _error(ProtocolError(str(exc)))
        client = parsed.user or request.headers.get("x-client-id") or "default"
        queue: asyncio.Queue = asyncio.Queue()
        groups = [self._group(p, parsed, i) for i, p in enumerate(parsed.prompts)]
        try:
            await self._submit(groups, parsed, client, queue)
        except QueueFullError as exc:
            body = protocol.error_body(str(exc), "rate_limit_error", code="queue_full")
            retry = str(max(1, math.ceil(exc.retry_after_s)))
            return JSONResponse(body, status_code=429, headers={"Retry-After": retry})
        except InvalidRequestError as exc:
            return _error(ProtocolError(str(exc), "prompt"))
        meta = (f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}", int(time.time()), s.name)
        if parsed.stream:
            return StreamingResponse(
                self._sse(groups, parsed, queue, meta),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache"},
            )
        return await self._collect(request, groups, parsed, queue, meta)

    def _group(self, prompt: list[int], parsed: ParsedRequest, i: int) -> Group:
        n = parsed.sampling.n
        choices = [
            Choice(i * n + j, Detokenizer(self.served.tokenizer, prompt), parsed.stop) for j in range(n)
        ]
        return Group(len(prompt), choices, open=set(range(n)))

    async def _submit(
        self, groups: list[Group], parsed: ParsedRequest, client: str, queue: asyncio.Queue
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            for i, group in enumerate(groups):

                def sink(item, i=i):
                    loop.call_soon_threadsafe(queue.put_nowait, (i, item))

                fut = self.worker.submit(parsed.prompts[i], parsed.sampling, client, sink)
                group.request_id = await asyncio.wrap_future(fut)
        except Exception:
            self._abort(groups)
            raise

    def _abort(self, groups: list[Group], disconnected: bool = False) -> None:
        for g in groups:
            if g.request_id is not None and g.open:
                self.worker.abort(g.request_id, disconnected=disconnected)
                g.open.clear()

    def _apply(
        self, groups: list[Group], i: int, item: RequestOutput | Exception
    ) -> tuple[Choice, str] | None:
        """Route one engine output to its choice; returns (choice, new text) or None if it is stale."""
        if isinstance(item, Exception):
            raise item
        group = groups[i]
        if item.seq_index not in group.open:
            return None
        ch = group.choices[item.seq_index]
        delta = ch.feed(item)
        if ch.finish_reason is not None:
            group.open.discard(item.seq_index)
            if not item.finished and not group.open:  # a stop string ended the last open choice early
                self.worker.abort(group.request_id, reason="stop")
        return ch, delta

    def _usage(self, groups: list[Group]) -> dict:
        return protocol.usage(
            sum(g.prompt_tokens for g in groups), sum(c.tokens for g in groups for c in g.choices)
        )

    async def _collect(
        self, request: Request, groups: list[Group], parsed: ParsedRequest, queue: asyncio.Queue, meta: tuple
    ) -> Response:
        gone = asyncio.ensure_future(_wait_disconnect(request))
        try:
            while any(g.open for g in groups):
                get = asyncio.ensure_future(queue.get())
                await asyncio.wait({get, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    self._abort(groups, disconnected=True)
                    return Response(status_code=499)
                self._apply(groups, *get.result())
        except Exception as exc:
            self._abort(groups)
            return JSONResponse(
                protocol.error_body(f"generation failed: {exc}", "server_error"), status_code=500
            )
        finally:
            gone.cancel()
        choices = [
            protocol.choice(parsed.chat, c.index, c.text, c.finish_reason, delta=False)
            for g in groups
            for c in g.choices
        ]
        body = protocol.envelope(parsed.chat, False, *meta, choices)
        body["usage"] = self._usage(groups)
        return JSONResponse(body)

    async def _sse(
        self, groups: list[Group], parsed: ParsedRequest, queue: asyncio.Queue, meta: tuple
    ) -> AsyncIterator[str]:
        def frame(choices: list[dict], **extra) -> str:
            return (
                f"data: {json.dumps({**protocol.envelope(parsed.chat, True, *meta, choices), **extra})}\n\n"
            )

        started: set[int] = set()
        finished = False
        try:
            while any(g.open for g in groups):
                i, item = await queue.get()
                if isinstance(item, Exception):
                    yield frame(
                        [], error=protocol.error_body(f"generation failed: {item}", "server_error")["error"]
                    )
                    break
                routed = self._apply(groups, i, item)
                if routed is None:
                    continue
                ch, delta = routed  # one frame per token, even while its text is held back
                first = ch.index not in started
                started.add(ch.index)
                yield frame([protocol.choice(parsed.chat, ch.index, delta, ch.finish_reason, True, first)])
            if parsed.include_usage:
                yield frame([], usage=self._usage(groups))
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            if not finished:  # the client left (cancellation) or the stream broke: free the blocks
                self._abort(groups, disconnected=True)


def build_app(served: ServedModel, metrics: AgentMetrics | None = None) -> Starlette:
    return Server(served, metrics).app()
