"""SkyStore-style virtual buckets: one logical bucket over a physical bucket per region, with data placed
write-local, replicated on read under a TTL policy, and evicted by `gc`.

Metadata lives in the skyctl state database (`skyctl.state.store_tables`); bytes live in a data backend
(`skyctl.store.backends`: a local directory per region, or S3-compatible storage).
"""

# Seconds before a pending write or a temporary file counts as abandoned (`skyctl store gc --grace`).
DEFAULT_GRACE_S = 3600.0
