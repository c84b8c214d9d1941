"""KVCacheManager: block tables, prefix hits, copy-on-write and the checks that keep them honest.

The scheduler decides *whether* something fits (it asks `available` and the cost helpers); this
module only performs the allocation it was told to and never preempts on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from replica_agent.memory.block_pool import Block, BlockPool, OutOfBlocksError
from replica_agent.memory.prefix_tree import PrefixNode, PrefixTree
from replica_agent.sequence import Sequence


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


class KVCacheManager:
    def __init__(self, num_blocks: int, block_size: int, enable_prefix_caching: bool = True) -> None:
        self.block_size = block_size
        self.pool = BlockPool(num_blocks)
        self.tree = PrefixTree()
        self.caching = enable_prefix_caching
        self._path: dict[int, list[PrefixNode]] = {}  # seq_id -> its leading table blocks named in the tree
        self.prefix_query_tokens = 0
        self.prefix_hit_tokens = 0

    # ---- capacity -------------------------------------------------------------------------
    @property
    def num_free(self) -> int:
        return self.pool.num_free

    @property
    def num_evictable(self) -> int:
        return self.tree.num_evictable

    @property
    def available(self) -> int:
        """Blocks an allocation may take: free ones plus unreferenced cached ones (by eviction)."""
        return self.pool.num_free + self.tree.num_evictable

    def match(self, seq: Sequence) -> list[PrefixNode]:
        """Cached full blocks of seq's tokens, capped so at least the last token is recomputed."""
        if not self.caching:
            return []
        return self.tree.match(seq.token_ids, self.block_size, (seq.num_tokens - 1) // self.block_size)

    def admit_cost(self, path: list[PrefixNode], end: int) -> int:
        """Blocks taken from `available` by admitting with this hit path and computing up to `end`."""
        revived = sum(1 for node in path if node.block.ref == 0)
        return cdiv(end, self.block_size) - len(path) + revived

    def append_cost(self, seq: Sequence, end: int) -> int:
        """Blocks needed to compute seq's positions [num_computed, end): new ones plus CoW copies."""
        table, bs = seq.block_table, self.block_size
        need = max(0, cdiv(end, bs) - len(table))
        first, last = seq.num_computed_tokens // bs, min(len(table), cdiv(end, bs))
        return need + sum(1 for j in range(first, last) if self.pool.blocks[table[j]].ref > 1)

    # ---- lifecycle ----------------------------------------------------------------------------
    def allocate(self, seq: Sequence, path: list[PrefixNode], end: int,
                 copies: list[tuple[int, int]]) -> None:
        """Admit seq: hold its prefix hit, then allocate blocks to compute up to `end`."""
        assert not seq.block_table, f"seq {seq.seq_id} already holds blocks"
        for node in path:
            self._hold(node.block)
        self.tree.touch(path)
        seq.block_table = [node.block.block_id for node in path]
        seq.num_computed_tokens = seq.num_cached_tokens = len(path) * self.block_size
        self._path[seq.seq_id] = list(path)
        if seq.num_preemptions == 0:
            self.prefix_query_tokens += seq.num_tokens
            self.prefix_hit_tokens += seq.num_cached_tokens
        self.append(seq, end, copies)

    def append(self, seq: Sequence, end: int, copies: list[tuple[int, int]]) -> None:
        """Make positions [num_computed, end) writable: grow the table, copy shared blocks (CoW)."""
        table, bs = seq.block_table, self.block_size
        for j in range(seq.num_computed_tokens // bs, min(len(table), cdiv(end, bs))):
            old = self.pool.blocks[table[j]]
            if old.ref > 1:
                new = self._new_block()
                copies.append((old.block_id, new.block_id))
                self._release(old)
                table[j] = new.block_id
        while len(table) < cdiv(end, bs):
            table.append(self._new_block().block_id)

    def commit(self, seq: Sequence) -> None:
        """Name seq's newly full, computed blocks in the tree (deduplicating against twins)."""
        if not self.caching:
            return
        path, bs, table = self._path[seq.seq_id], self.block_size, seq.block_table
        parent = path[-1] if path else self.tree.root
        for j in range(len(path), seq.num_computed_tokens // bs):
            mine = self.pool.blocks[table[j]]
            node = self.tree.insert(parent, tuple(seq.token_ids[j * bs:(j + 1) * bs]), mine)
            if node.block is not mine:  # an identical block is already cached: share it, drop ours
                self._hold(node.block)
                self._release(mine)
                table[j] = node.block.block_id
            path.append(node)
            parent = node

    def fork(self, parent: Sequence, child: Sequence, computed: int) -> None:
        """Child shares the parent blocks holding its first `computed` tokens; the first write to a
        shared block copies it."""
        child.block_table = parent.block_table[:cdiv(computed, self.block_size)]
        for block_id in child.block_table:
            self._hold(self.pool.blocks[block_id])
        child.num_computed_tokens = computed
        child.num_cached_tokens = parent.num_cached_tokens
        self._path[child.seq_id] = self._path.get(parent.seq_id, [])[:computed // self.block_size]

    def free(self, seq: Sequence) -> None:
        """Drop seq's table; cached blocks stay evictable, the tail (least shareable) goes first."""
        path = self._path.pop(seq.seq_id, [])
        self.tree.touch(path)
        for block_id in reversed(seq.block_table):
            self._release(self.pool.blocks[block_id])
        seq.block_table = []
        seq.num_computed_tokens = 0

    def reset_prefix_cache(self) -> int:
        """Forget every unreferenced cached block; returns how many went back to the free list."""
        blocks = self.tree.evict_all()
        for block in blocks:
            self.pool.push_free(block)
        return len(blocks)

    # ---- internals ----------------------------------------------------------------------------
    def _new_block(self) -> Block:
        if self.pool.free:
            return self.pool.pop_free()
        block = self.tree.evict_one()
        if block is None:
            raise OutOfBlocksError("KV pool exhausted: nothing free and nothing evictable")
        block.ref = 1
        return block

    def _hold(self, block: Block) -> None:
        block.ref += 1
        if block.node is not None:
            self.tree.on_ref_change(block.node, block.ref - 1)

    def _release(self, block: Block) -> None:
        block.ref -= 1
        if block.node is not None:
            self.tree.on_ref_change(block.node, block.ref + 1)
        elif block.ref == 0:
            self.pool.push_free(block)

    # ---- checks -----------------------------------------------------------------------------------
    def check_invariants(self, live: Iterable[Sequence]) -> None:
        """Assert the memory invariants (agent.md M1); tests call this after every step."""
        live = list(live)
        blocks, bs = self.pool.blocks, self.block_size
        free = set(self.pool.free)
        assert len(free) == len(self.pool.free), "free list holds a block twice"
        held = Counter(b for seq in live for b in seq.block_table)
        nodes = list(self.tree.nodes())
        assert len(nodes) == self.tree.num_nodes, "tree node count drifted"
        for block in blocks:
            assert block.ref == held.get(block.block_id, 0), f"block {block.block_id}: ref != holders"
            in_free = block.block_id in free
            assert not (in_free and (block.ref or block.node)), f"free block {block.block_id} is in use"
            assert in_free or block.ref or block.node, f"block {block.block_id} leaked"
        evictable = [n for n in nodes if n.block.ref == 0]
        assert len(evictable) == self.tree.num_evictable, "evictable count drifted"
        for node in nodes:
            assert node.block.node is node and len(node.key) == bs, "tree node does not name its block"
            assert node.parent.children.get(node.key) is node, "tree node unreachable from its parent"
            if node.block.ref and node.parent.block is not None:
                assert node.parent.block.ref, "a held cached block has an unheld parent"
        for seq in live:
            path = self._path.get(seq.seq_id, [])
            for j, node in enumerate(path):
                assert seq.block_table[j] == node.block.block_id, f"seq {seq.seq_id} table/tree mismatch"
                assert node.key == tuple(seq.token_ids[j * bs:(j + 1) * bs]), "cached block, other tokens"
            assert len(path) <= seq.num_computed_tokens // bs, "uncomputed block was cached"
