"""The error taxonomy: what each failure tells the controller to do, and what the user reads."""

from __future__ import annotations

import pytest

from providers.base import (
    CapacityError,
    LaunchSpec,
    Location,
    ProviderAuthError,
    ProviderError,
    ProviderUserError,
    QuotaError,
    State,
    TransientError,
)
from skyctl.errors import EXIT_FAILURE, EXIT_USAGE, Failure

ZONE = Location("aws", "us-east-1", "us-east-1a")


@pytest.mark.parametrize(("error", "marks", "retry", "exit_code"), [
    (CapacityError("no g5", provider="aws", location=ZONE, code="InsufficientInstanceCapacity"),
     True, False, EXIT_FAILURE),
    (QuotaError("too many vCPUs", provider="aws", quota="Running On-Demand G vCPUs", location=ZONE),
     False, False, EXIT_FAILURE),
    (ProviderAuthError("expired token", provider="gcp", fix="run `gcloud auth application-default login`"),
     False, False, EXIT_FAILURE),
    (ProviderUserError("unknown image", provider="azure", field="image_id", value="img-x", fix="pick one"),
     False, False, EXIT_USAGE),
    (TransientError("throttled", provider="aws", retry_after=2.0, code="RequestLimitExceeded"),
     False, True, EXIT_FAILURE),
])
def test_each_error_says_what_to_do_next(error: ProviderError, marks: bool, retry: bool,
                                         exit_code: int) -> None:
    assert isinstance(error, Failure)  # the CLI prints one line, no traceback
    assert (error.marks_location, error.retryable, error.exit_code) == (marks, retry, exit_code)


def test_messages_name_the_place_the_code_and_the_fix() -> None:
    cap = CapacityError("no g5.xlarge", provider="aws", location=ZONE, code="InsufficientInstanceCapacity")
    assert str(cap) == "aws aws/us-east-1/us-east-1a: no g5.xlarge [InsufficientInstanceCapacity]"
    quota = QuotaError("limit reached", provider="gcp", quota="NVIDIA_L4_GPUS")
    assert quota.quota == "NVIDIA_L4_GPUS" and "raise the NVIDIA_L4_GPUS quota" in str(quota)
    user = ProviderUserError("not a directory", provider="local", field="workdir", value="/x",
                             fix="create it")
    assert str(user) == "local: workdir: not a directory (got '/x'); create it"
    assert TransientError("slow down", provider="aws", retry_after=3).retry_after == 3


def test_state_liveness_and_spec_tags() -> None:
    assert {s for s in State if s.live} == {State.PENDING, State.RUNNING, State.STOPPED}
    spec = LaunchSpec("svc", "4", "k", spot=True, accelerators={"L4": 1, "T4": 2},
                      tags={"skyctl-service": "spoofed", "team": "ml"})
    assert spec.num_gpus == 3
    assert spec.all_tags() == {"skyctl-service": "svc", "skyctl-replica": "4", "skyctl-spot": "true",
                               "team": "ml"}
