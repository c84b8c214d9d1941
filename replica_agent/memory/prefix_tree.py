"""Block-granular radix tree over token ids, for prefix sharing, LPM ordering and eviction.

Each node names one full KV block by the tuple of its tokens under its parent, so a root-to-node
path names a whole prefix. Only unreferenced *leaves* are evicted, oldest use first, so a cached
descendant can never outlive its parent. Evictable leaves sit in a heap with lazy deletion: an
entry is stale once the node was touched, gained a child, got a reference or left the tree.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from replica_agent.memory.block_pool import Block


@dataclass(slots=True, eq=False)
class PrefixNode:
    key: tuple[int, ...]
    block: Block | None  # None only for the root
    parent: PrefixNode | None
    children: dict[tuple[int, ...], PrefixNode] = field(default_factory=dict)
    stamp: int = 0  # last use; larger = more recent


class PrefixTree:
    def __init__(self) -> None:
        self.root = PrefixNode((), None, None)
        self.num_nodes = 0
        self.num_evictable = 0  # nodes whose block has ref == 0
        self._clock = itertools.count(1)
        self._heap: list[tuple[int, int, PrefixNode]] = []

    def match(self, token_ids: list[int], block_size: int, max_blocks: int) -> list[PrefixNode]:
        """Nodes along the longest cached path of full blocks of token_ids (no side effects)."""
        node, path = self.root, []
        for j in range(max_blocks):
            node = node.children.get(tuple(token_ids[j * block_size:(j + 1) * block_size]))
            if node is None:
                break
            path.append(node)
        return path

    def touch(self, path: list[PrefixNode]) -> None:
        """Mark a held path as just used; later nodes get later stamps, so leaves are the newest.

        Callers touch only while holding the blocks (ref > 0), so no heap entry goes stale unseen.
        """
        for node in path:
            node.stamp = next(self._clock)

    def insert(self, parent: PrefixNode, key: tuple[int, ...], block: Block) -> PrefixNode:
        """Name a full, computed, held block under parent; returns an existing twin instead if any."""
        twin = parent.children.get(key)
        if twin is not None:
            return twin
        node = PrefixNode(key, block, parent, stamp=next(self._clock))
        parent.children[key] = node
        block.node = node
        self.num_nodes += 1
        return node

    def on_ref_change(self, node: PrefixNode, old_ref: int) -> None:
        """Keep the evictable count and heap in step when a cached block's ref count changes."""
        new_ref = node.block.ref
        if old_ref == 0 and new_ref > 0:
            self.num_evictable -= 1
        elif old_ref > 0 and new_ref == 0:
            self.num_evictable += 1
            self._push_if_evictable(node)

    def evict_one(self) -> Block | None:
        """Remove the least recently used unreferenced leaf; its block is returned uncached."""
        while self._heap:
            stamp, _, node = heapq.heappop(self._heap)
            if stamp != node.stamp or node.children or node.block.ref or node.block.node is not node:
                continue
            parent = node.parent
            del parent.children[node.key]
            block, node.block.node = node.block, None
            self.num_nodes -= 1
            self.num_evictable -= 1
            if parent is not self.root and parent.block.ref == 0:
                self._push_if_evictable(parent)
            return block
        return None

    def evict_all(self) -> list[Block]:
        """Drop every unreferenced node (leaves first); used by reset_prefix_cache."""
        out = []
        while (block := self.evict_one()) is not None:
            out.append(block)
        return out

    def nodes(self) -> Iterator[PrefixNode]:
        stack = list(self.root.children.values())
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())

    def _push_if_evictable(self, node: PrefixNode) -> None:
        if not node.children:
            heapq.heappush(self._heap, (node.stamp, id(node), node))
            if len(self._heap) > 4 * self.num_nodes + 64:
                self._compact()

    def _compact(self) -> None:
        self._heap = [e for e in self._heap
                      if e[0] == e[2].stamp and not e[2].children and not e[2].block.ref
                      and e[2].block.node is e[2]]
        heapq.heapify(self._heap)
