"""GPU offerings and prices on AWS, GCP and Azure, and GPU spec sheets: one query API used everywhere.

    from skyctl.catalog import load_catalog, gpu_spec
    load_catalog().cheapest("H100", spot=True).price_per_gpu(spot=True)
"""

from skyctl.catalog.catalog import Catalog
from skyctl.catalog.gpus import canonical_gpu, gpu_family, gpu_spec, gpu_specs
from skyctl.catalog.loader import load_catalog, parse_offerings
from skyctl.catalog.model import GpuSpec, Offering

__all__ = ["Catalog", "GpuSpec", "Offering", "canonical_gpu", "gpu_family", "gpu_spec", "gpu_specs",
           "load_catalog", "parse_offerings"]
