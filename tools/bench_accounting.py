"""Accounting benchmark, run by `make bench`: 1,000 users with associations, one slurm_user call against a loop.

Creates a controller with slurmdbd/MariaDB and one compute node (fresh Debian 12 containers), converges the Slurm
playbook on them, and puts a counting wrapper in front of sacctmgr (/usr/local/bin/sacctmgr logs each call, then
runs /usr/bin/sacctmgr) so that both approaches are counted the same way. Then, timed:

1. loop: the way it is done by hand, one `sacctmgr -i add user` per user in a shell loop on the controller
   (1,000 users of the account benchloop);
2. module: one hpcstack.cluster.slurm_user task with the 1,000 users of the account benchmod (ansible-playbook's
   whole wall-clock time, start-up included);
3. no-op: the same task again (must report changed=false, with one sacctmgr read).

Target of the modules issue: the module at least 20x faster than the loop; the no-op in a few seconds.
Usage: python tools/bench_accounting.py [USERS]     (default 1000)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from bench import inventory, parse_spec, playbook

CONTROLLER = "bench-ctl"
COUNTER_LOG = "/tmp/sacctmgr-calls.log"
WRAPPER = f"""#!/bin/sh
echo "$*" >> {COUNTER_LOG}
exec /usr/bin/sacctmgr "$@"
"""


def on_controller(script: str) -> str:
    result = subprocess.run(
        ["docker", "exec", CONTROLLER, "bash", "-c", script], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"bench: '{script[:80]}' failed on {CONTROLLER}: {result.stderr[-2000:]}")
    return result.stdout


def calls_since_reset() -> int:
    count = int(on_controller(f"wc -l < {COUNTER_LOG}").strip())
    on_controller(f": > {COUNTER_LOG}")
    return count


def users_play(users: int, result_file: Path) -> list[dict]:
    accounts = [{"name": f"benchmod{i:04d}", "accounts": ["benchmod"]} for i in range(1, users + 1)]
    return [
        {
            "name": "Ensure the benchmark users",
            "hosts": CONTROLLER,
            "gather_facts": False,
            "tasks": [
                {
                    "name": "One slurm_user call for every user",
                    "hpcstack.cluster.slurm_user": {"users": accounts},
                    "register": "result",
                },
                {
                    "name": "Keep the result for the report",
                    "ansible.builtin.copy": {"content": "{{ result | to_json }}", "dest": str(result_file)},
                    "delegate_to": "localhost",
                },
            ],
        }
    ]


def module_run(inventory_file: Path, play_file: Path, result_file: Path) -> tuple[float, dict]:
    seconds = playbook(inventory_file, str(play_file))[0]
    return seconds, json.loads(result_file.read_text())


def main(argv: list[str]) -> int:
    users = int(argv[1]) if len(argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as scratch:
        inventory_file = Path(scratch) / "hosts.yml"
        inventory_file.write_text(yaml.safe_dump(inventory(parse_spec("slurm:1+db"))))
        play_file = Path(scratch) / "users.yml"
        result_file = Path(scratch) / "result.json"
        play_file.write_text(yaml.safe_dump(users_play(users, result_file), width=1000))
        playbook(inventory_file, "playbooks/docker_nodes.yml")
        try:
            playbook(inventory_file, "playbooks/slurm.yml")
            on_controller(f"cat > /usr/local/bin/sacctmgr <<'EOF'\n{WRAPPER}EOF\nchmod 0755 /usr/local/bin/sacctmgr")
            on_controller("sacctmgr -i add account benchloop,benchmod >/dev/null")
            calls_since_reset()

            start = time.monotonic()
            on_controller(
                f"for i in $(seq -f %04g 1 {users}); do sacctmgr -i add user name=benchloop$i "
                "account=benchloop >/dev/null; done"
            )
            loop_s, loop_calls = time.monotonic() - start, calls_since_reset()

            module_s, first = module_run(inventory_file, play_file, result_file)
            module_calls = calls_since_reset()
            noop_s, again = module_run(inventory_file, play_file, result_file)
            noop_calls = calls_since_reset()
            made = int(on_controller("sacctmgr -nP show assoc account=benchmod format=User | grep -c benchmod"))
        finally:
            playbook(inventory_file, "playbooks/docker_nodes.yml", "-e", "docker_nodes_state=absent")
    print(f"{'approach':>28} {'wall':>9} {'sacctmgr calls':>15}")
    print(f"{'shell loop, one per user':>28} {loop_s:>8.1f}s {loop_calls:>15}")
    print(f"{'slurm_user, one call':>28} {module_s:>8.1f}s {module_calls:>15}   ({len(first['commands'])} writes)")
    print(f"{'slurm_user again (no-op)':>28} {noop_s:>8.1f}s {noop_calls:>15}   changed={again['changed']}")
    print(
        f"{users} users: module {loop_s / module_s:.1f}x faster than the loop (target >= 20x); "
        f"{made} associations made by the module"
    )
    ok = made == users and not again["changed"] and noop_calls == 1 and first["changed"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
