"""The replica's start-up script (EC2 user data): run `setup`, then `run`, with the replica's environment.

cloud-init runs user data once, as root, at first boot. The script writes the replica program to
`/opt/skyctl/replica.sh` and starts it as a transient systemd unit (`setsid nohup` where systemd-run is
missing), so cloud-init finishes and the replica outlives it. The program leaves the same marks as the local
provider's wrapper (`running` once `run` starts, `exit` with the phase and status), for a person or an
agent on the machine to read. When `run` uses the bundled serving agent (`replica-agent` or
`python -m replica_agent`) and the image lacks it, it is pip-installed first, pinned to this skyctl version.

Nothing here is AWS-specific: any cloud whose image runs cloud-init can reuse `startup_script`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from importlib import metadata

from providers.base import LaunchSpec

STATE_DIR = "/opt/skyctl"
LOG = "/var/log/skyctl-replica.log"
MAX_BYTES = 16 * 1024  # EC2's user-data limit (raw, before base64)
_AGENT = re.compile(r"(^|[\s;&|(])(replica-agent|python3? -m replica_agent)\b")


def uses_agent(run: str | None) -> bool:
    """Whether `run` starts the bundled serving agent."""
    return bool(run and _AGENT.search(run))


def agent_requirement() -> str:
    """What pip installs on the replica: $SKYCTL_AGENT_PIP, else skyctl[agent] at this version."""
    override = os.environ.get("SKYCTL_AGENT_PIP")
    if override:
        return override
    try:
        return f"skyctl[agent]=={metadata.version('skyctl')}"
    except metadata.PackageNotFoundError:
        return "skyctl[agent]"


def replica_env(spec: LaunchSpec, port: int) -> dict[str, str]:
    """The variables `setup` and `run` see: the user's, then ours (SkyPilot's names too, for old YAMLs)."""
    return {**spec.envs, "SKYCTL_PORT": str(port), "SKYCTL_SERVICE": spec.service,
            "SKYCTL_REPLICA_ID": spec.replica_id, "SKYPILOT_SERVE_REPLICA_ID": spec.replica_id,
            "SKYPILOT_NUM_GPUS_PER_NODE": str(spec.num_gpus)}


def replica_program(spec: LaunchSpec, port: int, state_dir: str = STATE_DIR) -> str:
    """The bash program that installs the agent if needed, runs `setup`, then `run`, leaving marks."""
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in replica_env(spec, port).items())
    install = ""
    if uses_agent(spec.run):
        req = shlex.quote(agent_requirement())
        install = ("if ! command -v replica-agent >/dev/null 2>&1; then\n"
                   f"  python3 -m pip install --quiet {req} "
                   "|| { echo \"agent $?\" > \"$D/exit\"; exit 1; }\n"
                   "fi\n")
    return (f"#!/bin/bash\nD={shlex.quote(state_dir)}\n{exports}\ncd \"$D/work\"\n{install}"
            f"SETUP={shlex.quote(spec.setup or '')}\nRUN={shlex.quote(spec.run or '')}\n"
            "if [ -n \"$SETUP\" ]; then\n"
            "  bash -c \"$SETUP\"; rc=$?\n"
            "  if [ \"$rc\" -ne 0 ]; then echo \"setup $rc\" > \"$D/exit\"; exit \"$rc\"; fi\n"
            "fi\n"
            ": > \"$D/running\"\n"
            "bash -c \"$RUN\"; rc=$?\n"
            "echo \"run $rc\" > \"$D/exit\"\n"
            "exit \"$rc\"\n")


def startup_script(spec: LaunchSpec, port: int) -> str:
    """The user-data text for one replica; raises ValueError when it exceeds the user-data limit."""
    program = replica_program(spec, port)
    marker = "SKYCTL_EOF_" + hashlib.sha256(program.encode()).hexdigest()[:12]  # never a line of the program
    script = (
        "#!/bin/bash\n"
        "# skyctl replica start-up script (generated; see providers/aws/startup.py)\n"
        f"mkdir -p {STATE_DIR}/work\n"
        f"cat > {STATE_DIR}/replica.sh <<'{marker}'\n{program}{marker}\n"
        f"chmod 700 {STATE_DIR}/replica.sh\n"
        "if command -v systemd-run >/dev/null 2>&1; then\n"
        f"  systemd-run --unit skyctl-replica --property=StandardOutput=append:{LOG} "
        f"--property=StandardError=append:{LOG} {STATE_DIR}/replica.sh\n"
        "else\n"
        f"  setsid nohup {STATE_DIR}/replica.sh >> {LOG} 2>&1 < /dev/null &\n"
        "fi\n")
    size = len(script.encode())
    if size > MAX_BYTES:
        raise ValueError(f"the start-up script is {size} bytes; user data holds at most {MAX_BYTES}")
    return script
