"""Fixed-size KV blocks with reference counts and a free list.

A block is in exactly one of three states: *free* (in the free list), *used* (ref > 0, held by at
least one live block table) or *evictable* (ref == 0 but still named by a prefix-tree node, so a later
request can hit it). The tree owns the evictable set; this module owns the free list.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any


class OutOfBlocksError(RuntimeError):
    """Raised when a caller allocates without checking capacity first (a scheduler bug)."""


@dataclass(slots=True)
class Block:
    block_id: int
    ref: int = 0  # number of live block tables holding this block
    node: Any = None  # the PrefixNode naming this block, or None when uncached


class BlockPool:
    def __init__(self, num_blocks: int) -> None:
        self.blocks = [Block(i) for i in range(num_blocks)]
        self.free: deque[int] = deque(range(num_blocks))

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    @property
    def num_free(self) -> int:
        return len(self.free)

    def pop_free(self) -> Block:
        """Take a free block and hold it once (ref = 1)."""
        if not self.free:
            raise OutOfBlocksError("no free KV block; the scheduler must check capacity before allocating")
        block = self.blocks[self.free.popleft()]
        block.ref = 1
        return block

    def push_free(self, block: Block) -> None:
        """Return an unreferenced, uncached block to the free list."""
        assert block.ref == 0 and block.node is None, f"block {block.block_id} is not free-able"
        self.free.append(block.block_id)
