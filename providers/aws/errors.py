"""AWS failures mapped onto the provider error taxonomy, so the controller never sees a botocore type.

The codes come from the EC2 API error reference. What matters is the next step each one asks for:
capacity -> the next zone; quota -> the user raises a limit (another zone will not help); auth -> fix the
credentials; throttling, 5xx and dropped connections -> the same call again after a backoff.
"""

from __future__ import annotations

from typing import Any

from providers.base import (
    CapacityError,
    Location,
    ProviderAuthError,
    ProviderError,
    ProviderUserError,
    QuotaError,
    TransientError,
)

NAME = "aws"

CAPACITY = {"InsufficientInstanceCapacity", "InsufficientCapacity", "InsufficientHostCapacity",
            "InsufficientReservedInstanceCapacity", "SpotMaxPriceTooLow", "Unsupported"}
# code -> the quota as the Service Quotas console names it
QUOTAS = {
    "VcpuLimitExceeded": "Running On-Demand instances vCPUs (VcpuLimitExceeded)",
    "MaxSpotInstanceCountExceeded": "All Spot Instance Requests vCPUs (MaxSpotInstanceCountExceeded)",
    "InstanceLimitExceeded": "Running instances (InstanceLimitExceeded)",
    "VolumeLimitExceeded": "EBS storage (VolumeLimitExceeded)",
}
AUTH = {"AuthFailure", "UnauthorizedOperation", "InvalidClientTokenId", "SignatureDoesNotMatch",
        "ExpiredToken", "ExpiredTokenException", "RequestExpired", "OptInRequired", "AccessDenied",
        "AccessDeniedException", "UnrecognizedClientException", "InvalidAccessKeyId"}
THROTTLING = {"RequestLimitExceeded", "Throttling", "ThrottlingException", "TooManyRequestsException",
              "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable",
              "InsufficientAddressCapacity"}
AUTH_FIX = ("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws configure` or `aws sso login`, "
            "and check the IAM policy allows EC2 RunInstances, DescribeInstances, TerminateInstances "
            "and CreateTags")


def map_error(exc: Exception, location: Location | None = None) -> ProviderError | None:
    """The taxonomy error for a botocore exception, or None when `exc` is not one we know."""
    from botocore import exceptions as bx  # the SDK is optional: imported only where it is in use

    if isinstance(exc, bx.ClientError):
        return _client_error(exc.response, str(exc), location)
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError | bx.NoRegionError):
        return ProviderAuthError(str(exc), provider=NAME, location=location, fix=AUTH_FIX)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectionClosedError | bx.ConnectTimeoutError
                  | bx.ReadTimeoutError):
        return TransientError(f"cannot reach the EC2 endpoint: {exc}", provider=NAME, location=location,
                              code=type(exc).__name__)
    return None


def _client_error(response: dict[str, Any], text: str, location: Location | None) -> ProviderError:
    err = response.get("Error", {})
    code = str(err.get("Code", "") or "Unknown")
    message = str(err.get("Message", "") or text)
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in CAPACITY:
        return CapacityError(message, provider=NAME, location=location, code=code)
    if code in QUOTAS:
        return QuotaError(message, provider=NAME, quota=QUOTAS[code], location=location, code=code,
                          fix=f"request more '{QUOTAS[code].split(' (')[0]}' in the Service Quotas console "
                              f"for {location.region if location else 'this region'}, or use another region")
    if code in AUTH or code.startswith("InvalidClientTokenId"):
        return ProviderAuthError(message, provider=NAME, location=location, code=code, fix=AUTH_FIX)
    if code in THROTTLING or status >= 500 or status == 429:
        retry_after = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
        return TransientError(message, provider=NAME, location=location, code=code,
                              retry_after=float(retry_after) if _number(retry_after) else None)
    user = _user_field(code, message)
    if user is not None:
        field, fix = user
        return ProviderUserError(message, provider=NAME, field=field, value=_value(message), fix=fix,
                                 location=location, code=code)
    return ProviderError(message, provider=NAME, location=location, code=code)


def _user_field(code: str, message: str) -> tuple[str, str] | None:
    """Which launch field a request error is about, and how to fix it."""
    low = message.lower()
    if code.startswith("InvalidAMIID"):
        return "image_id", "pass an AMI id that exists in this region, or leave image_id out for the default"
    if "availability zone" in low or code == "InvalidAvailabilityZone":
        return "zone", "use a zone of this region (`aws ec2 describe-availability-zones`)"
    if "instance type" in low or code == "InvalidInstanceType":
        return "instance_type", "use an instance type from `skyctl catalog ls --cloud aws`"
    if code in {"InvalidParameterValue", "InvalidParameterCombination", "InvalidParameter",
                "MissingParameter", "InvalidBlockDeviceMapping", "InvalidUserData.Malformed"}:
        return "launch", "check the replica's resources in the service YAML"
    return None


def _value(message: str) -> str:
    """The offending value AWS quotes in its message, e.g. `Invalid Availability Zone (mars-1a)`."""
    for opener, closer in (("(", ")"), ("'", "'"), ("[", "]")):
        start = message.rfind(opener)
        end = message.find(closer, start + 1)
        if 0 <= start < end:
            return message[start + 1:end]
    return message


def _number(text: Any) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True
