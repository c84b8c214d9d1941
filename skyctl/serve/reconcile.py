"""Reconciliation: the database's replica rows against the provider's inventory, every tick and at start.

Rows are the intent, written before every side effect; the inventory is the truth about what exists. This
pairs them up and says what is out of step after a crash or a surprise:
- an instance is paired with the row that records its id, else with the PENDING/PROVISIONING row whose
  idempotency key it carries and that has no instance yet (a crash between launch and the row update:
  the instance is *adopted*);
- a live instance no open row owns is an *orphan* (launched for a row that has since ended, from an older
  service of the same name, or a duplicate): it is terminated;
- a PROVISIONING row with no instance and no launch in flight is *relaunched* with its own idempotency
  key, so a provider that already started it returns that instance instead of a second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from providers.base import Instance
from skyctl.serve.status import ReplicaStatus
from skyctl.state.serve_tables import ReplicaRecord

_ADOPTABLE = (ReplicaStatus.PENDING, ReplicaStatus.PROVISIONING)


@dataclass
class Inventory:
    matched: dict[int, Instance] = field(default_factory=dict)  # replica_id -> its instance
    adopted: list[int] = field(default_factory=list)  # replica ids whose instance was found by key
    orphans: list[Instance] = field(default_factory=list)  # live instances to terminate


def match(rows: Iterable[ReplicaRecord], instances: Iterable[Instance]) -> Inventory:
    """Pair open rows with instances. `rows` are the rows not yet ended; instances of ended rows that
    are still live come out as orphans."""
    rows = list(rows)
    by_id = {r.instance_id: r for r in rows if r.instance_id}
    by_key = {r.idempotency_key: r for r in rows
              if r.instance_id is None and ReplicaStatus(r.status) in _ADOPTABLE}
    inv = Inventory()
    for inst in sorted(instances, key=lambda i: not i.state.live):  # a live instance wins a key
        row = by_id.get(inst.id)
        if row is None and inst.idempotency_key in by_key and by_key[inst.idempotency_key].replica_id \
                not in inv.matched:
            row = by_key[inst.idempotency_key]
            inv.adopted.append(row.replica_id)
        if row is None or (row.replica_id in inv.matched and inv.matched[row.replica_id].id != inst.id):
            if inst.state.live:
                inv.orphans.append(inst)
            continue
        inv.matched[row.replica_id] = inst
    return inv


def needs_relaunch(row: ReplicaRecord, inv: Inventory, in_flight: set[int]) -> bool:
    """A PROVISIONING row whose launch was cut off before the provider reported an instance."""
    return (ReplicaStatus(row.status) is ReplicaStatus.PROVISIONING and row.instance_id is None
            and row.replica_id not in inv.matched and row.replica_id not in in_flight)
