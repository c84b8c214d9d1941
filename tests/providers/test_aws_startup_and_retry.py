"""The replica start-up program really runs `setup` then `run` under bash with the replica's environment;
and the shared retry policy is bounded, jittered and honours Retry-After."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import pytest

from providers.aws.startup import MAX_BYTES, replica_program, startup_script, uses_agent
from providers.base import CapacityError, LaunchSpec, TransientError
from providers.retry import RetryPolicy, call_with_retry


def _spec(**kw) -> LaunchSpec:
    return LaunchSpec(service="svc", replica_id="7", idempotency_key="k", accelerators={"A10G": 2}, **kw)


def test_program_runs_setup_then_run_with_the_environment(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    spec = _spec(setup="echo set > order; echo \"it's quoted\" >> order",
                 run="echo run >> order; "
                     "echo $SKYCTL_PORT $SKYCTL_REPLICA_ID $SKYPILOT_NUM_GPUS_PER_NODE $MY > env",
                 envs={"MY": "a b"})
    script = tmp_path / "replica.sh"
    script.write_text(replica_program(spec, 8123, str(tmp_path)))
    done = subprocess.run(["bash", str(script)], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    work = tmp_path / "work"
    assert (work / "order").read_text() == "set\nit's quoted\nrun\n"
    assert (work / "env").read_text() == "8123 7 2 a b\n"
    assert (tmp_path / "running").exists() and (tmp_path / "exit").read_text() == "run 0\n"


def test_failed_setup_never_starts_run(tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    script = tmp_path / "replica.sh"
    script.write_text(replica_program(_spec(setup="exit 3", run="touch ran"), 8000, str(tmp_path)))
    assert subprocess.run(["bash", str(script)], timeout=30).returncode == 3
    assert (tmp_path / "exit").read_text() == "setup 3\n" and not (tmp_path / "work" / "ran").exists()


def test_agent_is_installed_only_when_run_uses_it() -> None:
    assert uses_agent("replica-agent serve --port $SKYCTL_PORT")
    assert uses_agent("cd x && python -m replica_agent serve")
    assert not uses_agent("python -m http.server $SKYCTL_PORT")
    assert "pip install" not in startup_script(_spec(run="python -m http.server"), 8000)
    with pytest.raises(ValueError, match="user data holds at most"):
        startup_script(_spec(setup="x" * MAX_BYTES, run="true"), 8000)


def test_retry_is_bounded_jittered_and_honours_retry_after() -> None:
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=4.0, max_total=100.0)
    rng = random.Random(7)
    for attempt in range(1, 8):
        cap = min(4.0, 2 ** (attempt - 1))
        assert 0.0 <= policy.delay(attempt, rng) <= cap
    assert policy.delay(1, rng, retry_after=3.0) == 3.0  # the server's floor wins over a small draw
    slept: list[float] = []
    calls = iter([TransientError("throttled", provider="aws", retry_after=0.5)] * 2 + ["ok"])

    def flaky() -> str:
        nxt = next(calls)
        if isinstance(nxt, Exception):
            raise nxt
        return nxt

    assert call_with_retry(flaky, policy=policy, sleep=slept.append, rng=rng) == "ok"
    assert len(slept) == 2 and all(d >= 0.5 for d in slept)


def test_retry_gives_up_at_the_bounds_and_never_retries_answers() -> None:
    calls = []

    def throttled() -> None:
        calls.append(1)
        raise TransientError("throttled", provider="aws")

    with pytest.raises(TransientError):
        call_with_retry(throttled, policy=RetryPolicy(attempts=3, base_delay=0.001), sleep=lambda _: None)
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(TransientError):  # the total delay bound stops it before the attempts run out
        call_with_retry(throttled, policy=RetryPolicy(attempts=50, base_delay=1.0, max_delay=1.0,
                                                      max_total=0.0), sleep=lambda _: None)
    assert len(calls) == 1

    def no_capacity() -> None:
        calls.append(1)
        raise CapacityError("none", provider="aws")

    calls.clear()
    with pytest.raises(CapacityError):
        call_with_retry(no_capacity, sleep=lambda _: None)
    assert len(calls) == 1
