"""The two record types of the catalog: a priced cloud offering and the spec sheet of a GPU type."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Offering:
    """One instance type in one place (zone, or region where the cloud has no zones) at list prices.

    `gpu_memory_gb` is the memory of ONE GPU (as in the spec sheet); `total_gpu_memory_gb` multiplies it
    out. Prices are $/h for the whole instance; None means the cloud has no such offer (or no public
    price for it) there.
    """

    cloud: str
    region: str
    zone: str | None
    instance_type: str
    gpu: str
    gpu_count: int
    gpu_memory_gb: float
    vcpus: int
    memory_gb: float
    price_ondemand: float | None
    price_spot: float | None
    price_date: str
    price_source: str

    def price(self, spot: bool) -> float | None:
        """$/h for the whole instance, spot or on-demand."""
        return self.price_spot if spot else self.price_ondemand

    def price_per_gpu(self, spot: bool) -> float | None:
        """$/h for one of its GPUs: what the GPU-mix solver and cost comparisons across sizes need."""
        p = self.price(spot)
        return None if p is None else p / self.gpu_count

    @property
    def total_gpu_memory_gb(self) -> float:
        return self.gpu_memory_gb * self.gpu_count

    @property
    def location(self) -> str:
        """`cloud/region[/zone]`: a short, unique-enough place name for logs and tables."""
        return "/".join(p for p in (self.cloud, self.region, self.zone) if p)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field, then the per-GPU prices (keys only ever get added)."""
        d = asdict(self)
        d["price_per_gpu_ondemand"] = _round(self.price_per_gpu(False))
        d["price_per_gpu_spot"] = _round(self.price_per_gpu(True))
        return d


@dataclass(frozen=True)
class GpuSpec:
    """Vendor datasheet figures used by estimators: dense tensor-core throughput, never the sparse one.

    A GPU without bf16 support (T4, V100) has `bf16_tflops == 0.0`.
    """

    name: str
    memory_gb: float
    mem_bw_gbps: float
    bf16_tflops: float
    fp16_tflops: float
    source: str
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)
