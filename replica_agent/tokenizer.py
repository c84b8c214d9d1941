"""Tokenizers: a byte-level one for the built-in tiny model, `tokenizers` for a model directory.

Also the incremental detokenizer used for streaming: it holds text back while the tail is an
incomplete UTF-8 sequence (decoded as U+FFFD) so a multi-byte character is never split.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol


class Tokenizer(Protocol):
    vocab_size: int
    bos_token_id: int | None
    eos_token_id: int | None

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...
    def chat_prompt(self, messages: list[dict[str, str]]) -> str: ...


def plain_chat_prompt(messages: list[dict[str, str]]) -> str:
    """A minimal role-tagged transcript ending with the assistant's turn."""
    turns = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
    return turns + "<|assistant|>\n"


class ByteTokenizer:
    """Bytes 0-255 are tokens 0-255; then BOS, EOS and PAD. Encoding prepends BOS."""

    vocab_size = 259
    bos_token_id = 256
    eos_token_id = 257
    pad_token_id = 258

    def encode(self, text: str) -> list[int]:
        return [self.bos_token_id, *text.encode("utf-8")]

    def decode(self, ids: list[int]) -> str:
        return bytes(i for i in ids if 0 <= i < 256).decode("utf-8", errors="replace")

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        return plain_chat_prompt(messages)


class HFTokenizer:
    """`tokenizer.json` through the `tokenizers` package; specials come from the model's config."""

    def __init__(self, directory: Path, bos_token_id: int | None, eos_token_id: int | None) -> None:
        from tokenizers import Tokenizer as _Tokenizer

        self._tok = _Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.bos_token_id, self.eos_token_id = bos_token_id, eos_token_id
        cfg_path = directory / "tokenizer_config.json"
        self._template = json.loads(cfg_path.read_text()).get("chat_template") if cfg_path.exists() else None

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=True).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=True)

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """The model's own Jinja chat template when jinja2 is installed, else the plain transcript."""
        if isinstance(self._template, str):
            try:
                import jinja2
            except ImportError:
                return plain_chat_prompt(messages)
            bos = self._tok.id_to_token(self.bos_token_id) if self.bos_token_id is not None else ""
            eos = self._tok.id_to_token(self.eos_token_id) if self.eos_token_id is not None else ""
            template = jinja2.Environment().from_string(self._template)
            return template.render(messages=messages, add_generation_prompt=True, bos_token=bos,
                                   eos_token=eos)
        return plain_chat_prompt(messages)


def load_tokenizer(directory: Path | None, bos_token_id: int | None, eos_token_id: int | None) -> Tokenizer:
    if directory is not None and (directory / "tokenizer.json").exists():
        return HFTokenizer(directory, bos_token_id, eos_token_id)
    return ByteTokenizer()


class Detokenizer:
    """Streams text for a growing list of token ids without splitting characters.

    Decodes only a short window (`prefix`..end) each time, like vLLM, so the cost per token stays
    constant; text is released once it no longer ends in a replacement character.
    """

    def __init__(self, tokenizer: Tokenizer, prompt_ids: list[int]) -> None:
        self.tokenizer = tokenizer
        self.ids = list(prompt_ids[-4:])
        self.prefix = 0
        self.read = len(self.ids)
        self.text = ""

    def add(self, token_ids: list[int]) -> str:
        """Append tokens; return the newly releasable text (possibly empty)."""
        self.ids.extend(token_ids)
        before = self.tokenizer.decode(self.ids[self.prefix:self.read])
        after = self.tokenizer.decode(self.ids[self.prefix:])
        if len(after) <= len(before) or after.endswith("\ufffd"):
            return ""
        delta = after[len(before):]
        self.prefix, self.read = self.read, len(self.ids)
        self.text += delta
        return delta

    def flush(self) -> str:
        """At the end of a sequence: release whatever is held back, replacement characters included."""
        before = self.tokenizer.decode(self.ids[self.prefix:self.read])
        delta = self.tokenizer.decode(self.ids[self.prefix:])[len(before):]
        self.prefix = self.read = len(self.ids)
        self.text += delta
        return delta
