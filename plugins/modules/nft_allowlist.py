#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Let only listed addresses reach a service's ports on this host: one nftables table of its own per service."""

from __future__ import annotations

DOCUMENTATION = r"""
module: nft_allowlist
short_description: Let only listed addresses reach a service's ports, with an nftables table of the service's own
version_added: 0.1.0
description:
  - Writes and loads the nftables table C(inet hpcstack_<name>). Its input chain sends packets for O(ports) to a chain
    that accepts the loopback and the addresses in O(sources) and drops (and counts) the rest. Other traffic is not
    touched, and every service has its own table, so allowlists of several roles, fail2ban's table and a site's own
    ruleset live side by side. The module never flushes the whole ruleset (C(nftables.service) does).
  - The table is kept in O(config_dir)C(/<name>.nft) and loaded in one transaction (the table is replaced, never
    left half written). With O(unit), a drop-in makes that unit load the file before it starts, so after a reboot the
    service never listens without its allowlist; if the file does not load, the service does not start.
  - Bad input (an address that is not one, a port out of range, a name nftables would not take) fails before anything
    is written or loaded, naming the option. A file nftables rejects is not installed.
  - A table that is missing from the running ruleset (a restarted container, someone's C(nft flush ruleset)) is loaded
    again, and reported as a change. Supports check mode.
options:
  name:
    description:
      - The service, lower case letters, digits and underscores (for example C(prometheus)). The table is
        C(inet hpcstack_<name>).
    type: str
    required: true
  ports:
    description: The ports the allowlist guards. Required with O(state=present).
    type: list
    elements: int
  protocol:
    description: The protocol of O(ports).
    type: str
    choices: [tcp, udp]
    default: tcp
  sources:
    description:
      - The addresses or networks allowed to reach O(ports), IPv4 or IPv6 (for example C(10.100.1.10) or
        C(10.100.1.0/24)). The loopback is always allowed. An empty list allows only the loopback.
      - A network with host bits set (C(10.0.0.1/24)) is refused, as it is usually a typing error, and so is a C(/0)
        (every address; leave the list empty, or remove the allowlist with O(state=absent)).
    type: list
    elements: str
    default: []
  unit:
    description:
      - A systemd service (for example C(prometheus.service)) that loads the allowlist before it starts, through the
        drop-in C(<unit_dir>/<unit>.d/hpcstack-allowlist-<name>.conf). systemd is reloaded when the drop-in changes.
    type: str
  state:
    description: C(absent) removes the table, its file and the drop-in of O(unit).
    type: str
    choices: [present, absent]
    default: present
  config_dir:
    description: Where the table's file is kept.
    type: path
    default: /etc/hpcstack/firewall
  unit_dir:
    description: Where systemd reads drop-ins from.
    type: path
    default: /etc/systemd/system
requirements:
  - nft on the managed host (Debian's C(nftables) package), and the right to change its firewall (root, or
    C(CAP_NET_ADMIN) in a container)
notes:
  - Addresses are matched as the packets arrive. Behind NAT (a published container port, a load balancer) the source is
    the translating host's address.
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: Let only the bastion and the monitoring host reach Prometheus
  hpcstack.cluster.nft_allowlist:
    name: prometheus
    ports: [9090]
    sources: [10.100.1.10, 10.100.1.11]
    unit: prometheus.service
"""

RETURN = r"""
table:
  description: The nftables table.
  returned: always
  type: str
  sample: inet hpcstack_prometheus
file:
  description: The file the table is loaded from.
  returned: always
  type: str
  sample: /etc/hpcstack/firewall/prometheus.nft
sources:
  description: The allowed networks as nftables takes them (besides the loopback).
  returned: with state=present
  type: list
  elements: str
  sample: [10.100.1.10, 10.100.1.0/24]
"""

import os
import re
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hpcstack.cluster.plugins.module_utils._allowlist import allowlist_elements

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
UNIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._:-]{0,250}\.service$")


def check_options(module: AnsibleModule) -> tuple[list[str], list[str]]:
    """Refuse bad options, each by its name, before anything is written or loaded. Returns (IPv4, IPv6) elements."""
    params = module.params
    if not NAME_RE.match(params["name"]):
        module.fail_json(
            msg=f"name is {params['name']!r}; give lower case letters, digits and underscores (at most 32, first a "
            "letter): it names the table inet hpcstack_<name> and its file."
        )
    if params["unit"] is not None and not UNIT_RE.match(params["unit"]):
        module.fail_json(msg=f"unit is {params['unit']!r}; give a systemd service's name, like prometheus.service.")
    if params["state"] == "absent":
        return [], []
    ports = params["ports"]
    if not ports:
        module.fail_json(msg="ports is empty; give the ports the allowlist guards (state=present).")
    for index, port in enumerate(ports):
        if not 1 <= port <= 65535:
            module.fail_json(msg=f"ports[{index}] is {port}; a port is 1 to 65535.")
    try:
        return allowlist_elements(params["sources"], "sources")
    except ValueError as error:
        module.fail_json(msg=str(error))


def render(name: str, protocol: str, ports: list[int], ipv4: list[str], ipv6: list[str]) -> str:
    table = f"inet hpcstack_{name}"
    port_set = ", ".join(str(port) for port in sorted(set(ports)))

    def address_set(set_name: str, kind: str, elements: list[str]) -> list[str]:
        lines = [f"\tset {set_name} {{", f"\t\ttype {kind}", "\t\tflags interval"]
        if elements:
            lines.append(f"\t\telements = {{ {', '.join(elements)} }}")
        return [*lines, "\t}"]

    lines = [
        f"# Managed by hpcstack.cluster.nft_allowlist: who may reach {protocol} port(s) {port_set} on this host.",
        "# Loaded as one transaction: the table is replaced as a whole, other tables are left alone.",
        f"table {table}",
        f"delete table {table}",
        f"table {table} {{",
        *address_set("allowed_ipv4", "ipv4_addr", ipv4),
        *address_set("allowed_ipv6", "ipv6_addr", ipv6),
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy accept;",
        f"\t\t{protocol} dport {{ {port_set} }} jump guarded",
        "\t}",
        "\tchain guarded {",
        '\t\tiifname "lo" accept',
        "\t\tip saddr @allowed_ipv4 accept",
        "\t\tip6 saddr @allowed_ipv6 accept",
        "\t\tcounter drop",
        "\t}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write(module: AnsibleModule, path: str, content: str, check_with: list[str] | None = None) -> None:
    """Write content to path atomically (0644, root's); with check_with, only once that command accepts the file."""
    directory = os.path.dirname(path)
    os.makedirs(directory, 0o755, exist_ok=True)
    handle, staged = tempfile.mkstemp(dir=module.tmpdir)
    with os.fdopen(handle, "w", encoding="utf-8") as staged_file:
        staged_file.write(content)
    if check_with is not None:
        rc, _out, err = module.run_command([*check_with, staged])
        if rc != 0:
            os.unlink(staged)
            module.fail_json(msg=f"nft refused the allowlist ({err.strip()}); {path} was left as it was.")
    os.chmod(staged, 0o644)
    module.atomic_move(staged, path)


def reload_systemd(module: AnsibleModule) -> None:
    """Make systemd read a changed drop-in; nothing to do where systemd is not running (sd_booted's test)."""
    if os.path.isdir("/run/systemd/system"):
        module.run_command(["systemctl", "daemon-reload"], check_rc=True)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "ports": {"type": "list", "elements": "int"},
            "protocol": {"type": "str", "choices": ["tcp", "udp"], "default": "tcp"},
            "sources": {"type": "list", "elements": "str", "default": []},
            "unit": {"type": "str"},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "config_dir": {"type": "path", "default": "/etc/hpcstack/firewall"},
            "unit_dir": {"type": "path", "default": "/etc/systemd/system"},
        },
        required_if=[("state", "present", ["ports"])],
        supports_check_mode=True,
    )
    params = module.params
    ipv4, ipv6 = check_options(module)
    # Without nft nothing can have been loaded: removing needs it only when it is there, and a check-mode run
    # before the role's apt task (a fresh host, --check) reports the table it would load.
    nft = module.get_bin_path("nft", required=params["state"] == "present" and not module.check_mode)
    name, table = params["name"], f"inet hpcstack_{params['name']}"
    path = os.path.join(params["config_dir"], f"{name}.nft")
    drop_in = None
    if params["unit"]:
        drop_in = os.path.join(params["unit_dir"], f"{params['unit']}.d", f"hpcstack-allowlist-{name}.conf")
    loaded = nft is not None and module.run_command([nft, "list", "table", *table.split()])[0] == 0
    result = {"table": table, "file": path}

    if params["state"] == "absent":
        changed = loaded or os.path.exists(path) or (drop_in is not None and os.path.exists(drop_in))
        if changed and not module.check_mode:
            if loaded:
                rc, _out, err = module.run_command([nft, "delete", "table", *table.split()])
                if rc != 0:
                    module.fail_json(msg=f"nft could not delete table {table}: {err.strip()}", **result)
            for stale in (path, drop_in):
                if stale and os.path.exists(stale):
                    os.unlink(stale)
            if drop_in:
                reload_systemd(module)
        module.exit_json(changed=changed, **result)

    content = render(name, params["protocol"], params["ports"], ipv4, ipv6)
    file_changed = read(path) != content
    drop_in_content = None
    if drop_in:
        nft_path = nft or "/usr/sbin/nft"  # check mode without nft: where Debian's package puts it
        # '+': as root, whatever User= the service runs as (loading a table needs CAP_NET_ADMIN).
        drop_in_content = (
            "# Managed by hpcstack.cluster.nft_allowlist: the service starts only with its allowlist loaded.\n"
            f"[Service]\nExecStartPre=+{nft_path} -f {path}\n"
        )
    drop_in_changed = drop_in is not None and read(drop_in) != drop_in_content
    changed = file_changed or drop_in_changed or not loaded
    if not module.check_mode:
        if file_changed:
            write(module, path, content, check_with=[nft, "--check", "--file"])
        if file_changed or not loaded:
            rc, _out, err = module.run_command([nft, "--file", path])
            if rc != 0:
                module.fail_json(msg=f"nft could not load {path}: {err.strip()}", **result)
        if drop_in_changed:
            write(module, drop_in, drop_in_content)
            reload_systemd(module)
    module.exit_json(changed=changed, sources=ipv4 + ipv6, **result)


if __name__ == "__main__":
    main()
