"""Per-request streaming state: each choice's incremental text, stop strings and finish reason."""

from __future__ import annotations

from dataclasses import dataclass, field

from replica_agent.engine import RequestOutput
from replica_agent.tokenizer import Detokenizer


@dataclass
class Choice:
    """One output sequence: detokenizes its tokens and applies the stop strings."""

    index: int
    detok: Detokenizer
    stop: tuple[str, ...]
    tokens: int = 0
    sent: int = 0  # characters of `text` already released
    text: str = ""
    finish_reason: str | None = None

    def feed(self, out: RequestOutput) -> str:
        self.tokens += len(out.new_token_ids)
        self.detok.add(out.new_token_ids)
        if out.finished:
            self.detok.flush()
            self.finish_reason = out.finish_reason
        full = self.detok.text
        if self.stop:
            hits = [i for s in self.stop if (i := full.find(s, max(0, self.sent - len(s) + 1))) >= 0]
            if hits:
                full, self.finish_reason = full[: min(hits)], "stop"
            elif not out.finished:  # hold back a tail that could still grow into a stop string
                full = full[: max(self.sent, len(full) - max(map(len, self.stop)) + 1)]
        self.text = full
        delta, self.sent = full[self.sent :], len(full)
        return delta


@dataclass
class Group:
    """The engine request behind one prompt, with its n choices."""

    prompt_tokens: int
    choices: list[Choice]
    request_id: str | None = None
    open: set[int] = field(default_factory=set)
