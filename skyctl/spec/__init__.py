"""Service YAML -> validated, immutable spec objects; all SkyPilot compatibility lives here.

    from skyctl.spec import load_service_spec
    spec = load_service_spec("examples/serve/local.yaml")
    spec.service.replica_policy.min_replicas, spec.task.resources[0].accelerators, spec.version
"""

from skyctl.spec.loader import load_service_spec, load_yaml, parse_service_spec, spec_from_dict
from skyctl.spec.model import (
    LB_POLICIES,
    SPOT_PLACERS,
    TLS,
    Amount,
    FrozenMap,
    ReadinessProbe,
    ReplicaPolicy,
    Resources,
    ServicePolicy,
    ServiceSpec,
    TaskSpec,
)

__all__ = ["LB_POLICIES", "SPOT_PLACERS", "TLS", "Amount", "FrozenMap", "ReadinessProbe", "ReplicaPolicy",
           "Resources", "ServicePolicy", "ServiceSpec", "TaskSpec", "load_service_spec", "load_yaml",
           "parse_service_spec", "spec_from_dict"]
