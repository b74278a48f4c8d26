"""Role variables that end up in a daemon's configuration file are refused in preflight when they could add lines.

A line break in grafana_http_addr, node_exporter_listen_host, an rsync "hosts allow" entry or an sshd option would add
settings to grafana.ini, node_exporter's ARGS file, rsyncd.conf (a writable module) or sshd_config, and
bastion_fail2ban_ignoreip [0.0.0.0/0] would switch fail2ban off, and an accounting tree with two names sacctmgr takes
for one object would apply one over the other. Each check must stop the run before anything changes.

One ansible-playbook run covers every case: each case is an inventory host of its own with one value set, and one play
per entry point includes that entry point's checks (hpcstack.cluster.<role>, tasks_from) on localhost over the local
connection. `valid-*` hosts hold the defaults or accepted values and must pass every check, so a check cannot pass
vacuously; every other host holds one bad value and must fail in an assertion whose message names the variable.
ansible_python_interpreter is a path that does not exist, so no module can run on this machine: the assertions run in
the controller, and spack_buildhost's preflight, whose apt look-ups come after all its assertions, stops there.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
# Always in every play and never including the role: a play whose every case fails (spack_buildhost's, at its apt
# look-up) would otherwise end the run before the next play.
SENTINEL = "sentinel"

RSYNC_PASSWORD = "correct-horse-battery-staple"

# Entry point: (role, tasks file, variables every case of it has, the first task after its assertions that runs a
# module, where the valid cases stop).
ENTRY_POINTS = {
    "grafana": ("grafana", "preflight.yml", {"grafana_admin_password": "correct-horse-battery"}, None),
    "node_exporter": ("node_exporter", "preflight.yml", {}, None),
    "prometheus": ("prometheus", "preflight.yml", {"prometheus_scrape_groups": ["prometheus"]}, None),
    "bastion": ("bastion", "preflight.yml", {}, None),
    "reverse_tunnel": (
        "bastion",
        "reverse_tunnel_preflight.yml",
        {"bastion_inventory_host": "gw", "bastion_public_address": "203.0.113.10", "bastion_public_port": 22},
        None,
    ),
    "nvidia_toolkit": ("nvidia_toolkit", "preflight.yml", {}, None),
    "spack_client": (
        "spack_buildhost",
        "client_preflight.yml",
        {"spack_buildhost_client_server": "hpc-build", "spack_buildhost_rsync_password": RSYNC_PASSWORD},
        None,
    ),
    # The accounting tree's checks, then its first module task (the host's run stops there).
    "accounts": ("slurm_controller", "accounts.yml", {}, "Ensure the QOS"),
    "spack_buildhost": (
        "spack_buildhost",
        "preflight.yml",
        {"spack_buildhost_rsync_password": RSYNC_PASSWORD},
        "Refresh the package index when it is older than an hour",
    ),
}

# A module rsync would serve writable to everyone. Without spaces (rsyncd.conf ignores them in parameter names), so
# that a check refusing spaces alone does not catch it.
WRITABLE_RSYNC_MODULE = "\n[evil]\npath=/\nreadonly=no"

# Case: (entry point, its variables). Valid cases must pass every check.
VALID = {
    "valid-grafana-defaults": ("grafana", {}),
    "valid-accounts-tree": (
        "accounts",
        {
            "slurm_accounting_qos": [{"name": "short", "priority": 100}],
            "slurm_accounting_accounts": [{"name": "physics"}, {"name": "lattice", "parent": "physics"}],
            "slurm_accounting_users": [{"name": "alice", "accounts": ["physics"]}],
        },
    ),
    "valid-grafana-values": (
        "grafana",
        {
            "grafana_http_addr": "::",
            "grafana_admin_user": "ops@example.org",
            "grafana_prometheus_url": "https://prometheus.example.org:9090/prom",
            "grafana_prometheus_scrape_interval": "1m30s",
            "grafana_dashboards_folder": "HPC cluster",
        },
    ),
    "valid-grafana-ipv6": ("grafana", {"grafana_http_addr": "[::1]"}),
    "valid-grafana-ipv4": ("grafana", {"grafana_http_addr": "10.0.1.2"}),
    "valid-grafana-name": ("grafana", {"grafana_http_addr": "monitor01.cluster.example.org"}),
    "valid-grafana-empty": ("grafana", {"grafana_http_addr": ""}),
    "valid-node-exporter-defaults": ("node_exporter", {}),
    "valid-node-exporter-values": (
        "node_exporter",
        {
            "node_exporter_listen_host": "10.0.1.5",
            "node_exporter_extra_args": [
                "--collector.systemd",
                "--no-collector.mdadm",
                r"--collector.diskstats.device-exclude=^(ram|loop|fd)\d+$",
            ],
        },
    ),
    "valid-node-exporter-ipv6": ("node_exporter", {"node_exporter_listen_host": "[fd00::5]"}),
    "valid-node-exporter-name": ("node_exporter", {"node_exporter_listen_host": "hpc-compute01"}),
    "valid-node-exporter-allowlist": (
        "node_exporter",
        {"node_exporter_allowed_sources": ["10.100.1.11", "10.100.1.0/24", "fd00::/64", "fd00::11"]},
    ),
    "valid-grafana-allowlist": ("grafana", {"grafana_allowed_sources": ["10.100.1.10", "192.0.2.0/24"]}),
    "valid-prometheus-defaults": ("prometheus", {}),
    "valid-prometheus-allowlist": ("prometheus", {"prometheus_allowed_sources": ["10.100.1.10", "10.100.1.1"]}),
    "valid-bastion-defaults": ("bastion", {}),
    "valid-bastion-values": (
        "bastion",
        {
            "bastion_sshd_extra_options": {
                "Ciphers": "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com",
                "AcceptEnv": ["LANG", "LC_*"],
                "UseDNS": False,
                "MaxSessions": 4,
            },
            "bastion_fail2ban_ignoreip": ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32", "office.example.org"],
            "bastion_fail2ban_findtime": 600,
            "bastion_fail2ban_bantime": "-1",
            "bastion_users": [{"name": "alice", "authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA alice@lap"]}],
            "bastion_sshd_permit_open": ["10.0.1.10:22", "*:22", "[2001:db8::1]:22", "hpc-controller:*"],
            "bastion_sshd_ciphers": ["aes256-gcm@openssh.com"],
        },
    ),
    "valid-reverse-tunnel-defaults": ("reverse_tunnel", {}),
    "valid-reverse-tunnel-values": (
        "reverse_tunnel",
        {
            "bastion_public_address": "2001:db8::10",
            "bastion_reverse_tunnel_forwards": [
                {"remote_port": 2222, "local_port": 22, "local_host": "[::1]"},
                {"remote_port": 16818, "local_port": 6818, "local_host": "10.0.1.9"},
                {"remote_port": 18080, "local_port": 8080, "local_host": "web.onprem.example.org"},
            ],
        },
    ),
    "valid-spack-client-defaults": ("spack_client", {}),
    "valid-spack-client-values": (
        "spack_client",
        {"spack_buildhost_client_server": "10.0.1.4", "spack_buildhost_client_sync_interval": "1h 30min"},
    ),
    "valid-spack-client-ipv6": ("spack_client", {"spack_buildhost_client_server": "[fd00::4]"}),
    "valid-spack-buildhost-defaults": ("spack_buildhost", {}),
    # Supply chain: https:// or file:// sources, full fingerprints (as vendors print them), digests.
    "valid-grafana-mirror": (
        "grafana",
        {
            "grafana_apt_repo_url": "https://mirror.example.org/grafana",
            "grafana_apt_key_url": "file:///srv/mirror/grafana/gpg.key",
            "grafana_apt_key_fingerprints": ["b53a e77b adb6 30a6 8304  6005 963f a277 1045 8545"],
        },
    ),
    "valid-grafana-http-when-not-installed": (
        "grafana",
        {"grafana_install_package": False, "grafana_apt_repo_url": "http://apt.grafana.com"},
    ),
    "valid-nvidia-defaults": ("nvidia_toolkit", {}),
    "valid-nvidia-pinned": (
        "nvidia_toolkit",
        {
            "nvidia_toolkit_dcgm_exporter_image": "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9-3.6.1-ubuntu22.04@sha256:"
            + "0123456789abcdef" * 4,
            "nvidia_toolkit_apt_key_fingerprints": [
                "C95B321B61E88C1809C4F759DDCAE044F796ECB0",
                "EB693B3035CD5710E231E123A4B469963BF863CC",
            ],
        },
    ),
    "valid-nvidia-registry-port-digest": (
        "nvidia_toolkit",
        {"nvidia_toolkit_dcgm_exporter_image": "registry.example.org:5000/dcgm-exporter@sha256:" + "f" * 64},
    ),
    "valid-spack-buildhost-archive-url": (
        "spack_buildhost",
        {
            "spack_buildhost_spack_source": "archive",
            "spack_buildhost_spack_archive": "https://mirror.example.org/spack/v0.23.1.tar.gz",
            "spack_buildhost_spack_archive_checksum": "sha256:" + "0a" * 32,
        },
    ),
    "valid-spack-buildhost-archive-path": (
        "spack_buildhost",
        {"spack_buildhost_spack_source": "archive", "spack_buildhost_spack_archive": "/srv/spack-0.23.1.tar.gz"},
    ),
    "valid-spack-buildhost-values": (
        "spack_buildhost",
        {
            "spack_buildhost_rsync_hosts_allow": ["10.0.1.0/24", "172.18.0.0/255.255.0.0", "192.0.2.7", "fd00::/64"],
            "spack_buildhost_install_root": "/opt/hpcstack/spack-2024.1",
        },
    ),
}

# Case: (entry point, its variables, what the failed assertion's message must say).
HOSTILE = {
    # The accounting tree: names sacctmgr would take as one object, an item it could not name.
    "accounts-qos-names-differ-in-case": (
        "accounts",
        {"slurm_accounting_qos": [{"name": "short"}, {"name": "Short"}]},
        ["slurm_accounting_qos must be a list of dicts, each with a unique `name`"],
    ),
    "accounts-account-without-name": (
        "accounts",
        {"slurm_accounting_accounts": [{"description": "no name"}]},
        ["slurm_accounting_accounts must be a list of dicts, each with a unique `name`"],
    ),
    "accounts-user-twice": (
        "accounts",
        {"slurm_accounting_users": [{"name": "bob"}, {"name": "bob", "accounts": ["x"]}]},
        ["slurm_accounting_users must be a list of dicts, each with a unique `name`"],
    ),
    # grafana.ini
    "grafana-http-addr-newline": (
        "grafana",
        {"grafana_http_addr": "127.0.0.1\n[auth.anonymous]\nenabled = true"},
        ["grafana_http_addr"],
    ),
    "grafana-http-addr-final-newline": ("grafana", {"grafana_http_addr": "127.0.0.1\n"}, ["grafana_http_addr"]),
    "grafana-http-addr-space": ("grafana", {"grafana_http_addr": "127.0.0.1 x"}, ["grafana_http_addr"]),
    "grafana-admin-user-newline": (
        "grafana",
        {"grafana_admin_user": "admin\n[auth.anonymous]\nenabled = true"},
        ["grafana_admin_user"],
    ),
    # The provisioning files (YAML, quoted by to_nice_yaml, but a line break is no value of these either).
    "grafana-prometheus-url-final-newline": (
        "grafana",
        {"grafana_prometheus_url": "http://localhost:9090\n"},
        ["grafana_prometheus_url"],
    ),
    "grafana-scrape-interval-newline": (
        "grafana",
        {"grafana_prometheus_scrape_interval": "15s\nx"},
        ["grafana_prometheus_scrape_interval"],
    ),
    "grafana-dashboards-dir-final-newline": (
        "grafana",
        {"grafana_dashboards_dir": "/var/lib/grafana/dashboards/hpcstack\n"},
        ["grafana_dashboards_dir"],
    ),
    "grafana-dashboards-folder-newline": (
        "grafana",
        {"grafana_dashboards_folder": "HPC\nx"},
        ["grafana_dashboards_folder"],
    ),
    # The allowlists become nftables sets (nft_allowlist): a brace or line break would add rules, /0 let everyone in.
    "node-exporter-allowlist-rule": (
        "node_exporter",
        {"node_exporter_allowed_sources": ["10.100.1.11 }\n\tchain evil { type filter hook input priority 0; }"]},
        ["node_exporter_allowed_sources[0]"],
    ),
    "node-exporter-allowlist-string": (
        "node_exporter",
        {"node_exporter_allowed_sources": "10.100.1.11"},
        ["node_exporter_allowed_sources must be a list"],
    ),
    "grafana-allowlist-everyone": (
        "grafana",
        {"grafana_allowed_sources": ["10.100.1.10", "0.0.0.0/0"]},
        ["grafana_allowed_sources[1]", "every address"],
    ),
    "prometheus-allowlist-name": (
        "prometheus",
        {"prometheus_allowed_sources": ["hpc-bastion"]},
        ["prometheus_allowed_sources[0]"],
    ),
    "prometheus-allowlist-host-bits": (
        "prometheus",
        {"prometheus_allowed_sources": ["10.100.1.10/24"]},
        ["prometheus_allowed_sources[0]", "host bits set"],
    ),
    # /etc/default/prometheus-node-exporter: ARGS="..."
    "node-exporter-listen-host-newline": (
        "node_exporter",
        {"node_exporter_listen_host": '127.0.0.1\nARGS="--web.disable-exporter-metrics"'},
        ["node_exporter_listen_host"],
    ),
    "node-exporter-listen-host-flag": (
        "node_exporter",
        {"node_exporter_listen_host": "0.0.0.0 --collector.disable-defaults"},
        ["node_exporter_listen_host"],
    ),
    "node-exporter-listen-host-bare-ipv6": (
        "node_exporter",
        {"node_exporter_listen_host": "::1"},
        ["node_exporter_listen_host"],
    ),
    "node-exporter-textfile-dir-newline": (
        "node_exporter",
        {"node_exporter_textfile_dir": "/var/lib/x\nARGS=--evil"},
        ["node_exporter_textfile_dir"],
    ),
    "node-exporter-textfile-dir-quote": (
        "node_exporter",
        {"node_exporter_textfile_dir": '/var/lib/x"'},
        ["node_exporter_textfile_dir"],
    ),
    "node-exporter-extra-args-final-newline": (
        "node_exporter",
        {"node_exporter_extra_args": ["--collector.systemd\n"]},
        ["node_exporter_extra_args"],
    ),
    "node-exporter-extra-args-quote": (
        "node_exporter",
        {"node_exporter_extra_args": ['--collector.systemd="']},
        ["node_exporter_extra_args"],
    ),
    "node-exporter-extra-args-final-backslash": (
        "node_exporter",
        {"node_exporter_extra_args": ["--collector.textfile.directory=/x\\"]},
        ["node_exporter_extra_args"],
    ),
    # sshd_config
    "bastion-sshd-option-value-newline": (
        "bastion",
        {"bastion_sshd_extra_options": {"Banner": "none\nPermitRootLogin yes"}},
        ['bastion_sshd_extra_options["Banner"]'],
    ),
    "bastion-sshd-option-list-item-newline": (
        "bastion",
        {"bastion_sshd_extra_options": {"AcceptEnv": ["LANG", "LC_*\nPasswordAuthentication yes"]}},
        ['bastion_sshd_extra_options["AcceptEnv"]'],
    ),
    "bastion-sshd-option-key-final-newline": (
        "bastion",
        {"bastion_sshd_extra_options": {"Banner\n": "none"}},
        ["bastion_sshd_extra_options"],
    ),
    "bastion-sshd-option-dict-value": (
        "bastion",
        {"bastion_sshd_extra_options": {"Banner": {"none": True}}},
        ['bastion_sshd_extra_options["Banner"]'],
    ),
    "bastion-sshd-cipher-newline": (
        "bastion",
        {"bastion_sshd_ciphers": ["aes128-ctr\nPermitRootLogin yes"]},
        ["bastion_sshd_ciphers"],
    ),
    "bastion-sshd-macs-empty": (
        "bastion",
        {"bastion_sshd_macs": []},
        ["bastion_sshd_macs"],
    ),
    "bastion-sshd-permit-open-two-words": (
        "bastion",
        {"bastion_sshd_permit_open": ["10.0.1.10:22 203.0.113.5:25"]},
        ["bastion_sshd_permit_open"],
    ),
    "bastion-tunnel-user-newline": (
        "bastion",
        {"bastion_tunnel_user": "tunnel\nMatch all"},
        ["bastion_tunnel_user"],
    ),
    "bastion-users-key-newline": (
        "bastion",
        {"bastion_users": [{"name": "alice", "authorized_keys": ["ssh-ed25519 AAAA alice\nssh-ed25519 BBBB mallory"]}]},
        ["bastion_users"],
    ),
    # jail.local
    "bastion-ignoreip-any-ipv4": (
        "bastion",
        {"bastion_fail2ban_ignoreip": ["203.0.113.0/24", "0.0.0.0/0"]},
        ["bastion_fail2ban_ignoreip", '"0.0.0.0/0"'],
    ),
    "bastion-ignoreip-any-ipv6": ("bastion", {"bastion_fail2ban_ignoreip": ["::/0"]}, ["bastion_fail2ban_ignoreip"]),
    "bastion-ignoreip-slash-zero": (
        "bastion",
        {"bastion_fail2ban_ignoreip": ["10.0.0.0/00"]},
        ["bastion_fail2ban_ignoreip", '"10.0.0.0/00"'],
    ),
    "bastion-ignoreip-space": (
        "bastion",
        {"bastion_fail2ban_ignoreip": ["203.0.113.7 0.0.0.0/0"]},
        ["bastion_fail2ban_ignoreip"],
    ),
    "bastion-ignoreip-newline": (
        "bastion",
        {"bastion_fail2ban_ignoreip": ["203.0.113.7\nenabled = false"]},
        ["bastion_fail2ban_ignoreip"],
    ),
    "bastion-ignoreip-not-a-list": (
        "bastion",
        {"bastion_fail2ban_ignoreip": "0.0.0.0/0"},
        ["bastion_fail2ban_ignoreip"],
    ),
    "bastion-findtime-newline": (
        "bastion",
        {"bastion_fail2ban_findtime": "10m\nenabled = false"},
        ["bastion_fail2ban_findtime"],
    ),
    "bastion-bantime-newline": (
        "bastion",
        {"bastion_fail2ban_bantime": "1h\nmaxretry = 1000"},
        ["bastion_fail2ban_bantime"],
    ),
    # The reverse tunnel's unit
    "reverse-tunnel-public-address-newline": (
        "reverse_tunnel",
        {"bastion_public_address": "203.0.113.10\nExecStartPre=+/bin/true"},
        ["bastion_public_address"],
    ),
    "reverse-tunnel-local-host-newline": (
        "reverse_tunnel",
        {
            "bastion_reverse_tunnel_forwards": [
                {"remote_port": 2222, "local_port": 22, "local_host": "localhost\nExecStartPre=+/bin/true"}
            ]
        },
        ["bastion_reverse_tunnel_forwards"],
    ),
    "reverse-tunnel-account-newline": (
        "reverse_tunnel",
        {"bastion_tunnel_user": "tunnel\nExecStartPre=+/bin/true"},
        ["bastion_tunnel_user"],
    ),
    # The compute node's sync unit and Lmod's modulespath
    "spack-client-server-newline": (
        "spack_client",
        {"spack_buildhost_client_server": "hpc-build\nExecStartPre=+/bin/true"},
        ["spack_buildhost_client_server"],
    ),
    "spack-client-sync-interval-newline": (
        "spack_client",
        {"spack_buildhost_client_sync_interval": "15min\nOnBootSec=0"},
        ["spack_buildhost_client_sync_interval"],
    ),
    "spack-client-rsync-module-space": (
        "spack_client",
        {"spack_buildhost_rsync_module": "hpcstack-spack /"},
        ["spack_buildhost_rsync_module"],
    ),
    "spack-client-install-root-newline": (
        "spack_client",
        {"spack_buildhost_install_root": "/opt/hpcstack/spack\n/tmp"},
        ["spack_buildhost_install_root"],
    ),
    # rsyncd.conf and Spack's files
    "spack-hosts-allow-newline": (
        "spack_buildhost",
        {"spack_buildhost_rsync_hosts_allow": ["10.0.1.0/24" + WRITABLE_RSYNC_MODULE]},
        ["spack_buildhost_rsync_hosts_allow"],
    ),
    "spack-hosts-allow-space": (
        "spack_buildhost",
        {"spack_buildhost_rsync_hosts_allow": ["10.0.1.0/24 0.0.0.0/0"]},
        ["spack_buildhost_rsync_hosts_allow", '"10.0.1.0/24 0.0.0.0/0"'],
    ),
    "spack-hosts-allow-not-a-list": (
        "spack_buildhost",
        {"spack_buildhost_rsync_hosts_allow": "10.0.1.0/24"},
        ["spack_buildhost_rsync_hosts_allow"],
    ),
    "spack-rsync-module-newline": (
        "spack_buildhost",
        {"spack_buildhost_rsync_module": "hpcstack-spack]" + WRITABLE_RSYNC_MODULE + "\n[x"},
        ["spack_buildhost_rsync_module"],
    ),
    "spack-install-root-newline": (
        "spack_buildhost",
        {"spack_buildhost_install_root": "/opt/hpcstack/spack" + WRITABLE_RSYNC_MODULE},
        ["spack_buildhost_install_root"],
    ),
    "spack-install-root-quote": (
        "spack_buildhost",
        {"spack_buildhost_install_root": '/opt/x",os.execute("id"),"x'},
        ["spack_buildhost_install_root"],
    ),
    # Supply chain (sources fetched over http can be swapped; a short key id can be forged)
    "grafana-apt-repo-http": (
        "grafana",
        {"grafana_apt_repo_url": "http://apt.grafana.com"},
        ["grafana_apt_repo_url", '"http://apt.grafana.com"'],
    ),
    "grafana-apt-key-http": (
        "grafana",
        {"grafana_apt_key_url": "http://apt.grafana.com/gpg.key"},
        ["grafana_apt_key_url", '"http://apt.grafana.com/gpg.key"'],
    ),
    "grafana-apt-key-short-id": (
        "grafana",
        {"grafana_apt_key_fingerprints": ["10458545"]},
        ["grafana_apt_key_fingerprints"],
    ),
    "grafana-apt-key-fingerprints-empty": (
        "grafana",
        {"grafana_apt_key_fingerprints": []},
        ["grafana_apt_key_fingerprints"],
    ),
    "nvidia-apt-repo-http": (
        "nvidia_toolkit",
        {"nvidia_toolkit_apt_repo_url": "http://nvidia.github.io/libnvidia-container/stable/deb/amd64"},
        ["nvidia_toolkit_apt_repo_url"],
    ),
    "nvidia-apt-key-http": (
        "nvidia_toolkit",
        {"nvidia_toolkit_apt_key_url": "http://nvidia.github.io/libnvidia-container/gpgkey"},
        ["nvidia_toolkit_apt_key_url"],
    ),
    "nvidia-apt-key-fingerprints-string": (
        "nvidia_toolkit",
        {"nvidia_toolkit_apt_key_fingerprints": "C95B321B61E88C1809C4F759DDCAE044F796ECB0"},
        ["nvidia_toolkit_apt_key_fingerprints"],
    ),
    "nvidia-dcgm-image-short-digest": (
        "nvidia_toolkit",
        {"nvidia_toolkit_dcgm_exporter_image": "nvcr.io/nvidia/k8s/dcgm-exporter@sha256:0123abcd"},
        ["nvidia_toolkit_dcgm_exporter_image"],
    ),
    "nvidia-dcgm-image-newline": (
        "nvidia_toolkit",
        {"nvidia_toolkit_dcgm_exporter_image": "nvcr.io/nvidia/k8s/dcgm-exporter:3.3.9\n--privileged"},
        ["nvidia_toolkit_dcgm_exporter_image"],
    ),
    "spack-archive-http": (
        "spack_buildhost",
        {
            "spack_buildhost_spack_source": "archive",
            "spack_buildhost_spack_archive": "http://mirror.example.org/spack/v0.23.1.tar.gz",
            "spack_buildhost_spack_archive_checksum": "sha256:" + "0a" * 32,
        },
        ["spack_buildhost_spack_archive", '"http://mirror.example.org/spack/v0.23.1.tar.gz"'],
    ),
    "spack-archive-url-without-checksum": (
        "spack_buildhost",
        {
            "spack_buildhost_spack_source": "archive",
            "spack_buildhost_spack_archive": "https://mirror.example.org/spack/v0.23.1.tar.gz",
        },
        ["spack_buildhost_spack_archive_checksum", "required when"],
    ),
    "spack-archive-checksum-md5": (
        "spack_buildhost",
        {
            "spack_buildhost_spack_source": "archive",
            "spack_buildhost_spack_archive": "/srv/spack-0.23.1.tar.gz",
            "spack_buildhost_spack_archive_checksum": "md5:" + "0a" * 16,
        },
        ["spack_buildhost_spack_archive_checksum"],
    ),
    # The Spack share's account: a password rsyncd.secrets can hold, a pull that never runs as root
    "spack-rsync-password-unset": (
        "spack_buildhost",
        {"spack_buildhost_rsync_password": None},
        ["spack_buildhost_rsync_password", "must be at least 16 characters"],
    ),
    "spack-rsync-password-short": (
        "spack_buildhost",
        {"spack_buildhost_rsync_password": "hpcstack"},
        ["spack_buildhost_rsync_password", "must be at least 16 characters"],
    ),
    "spack-client-rsync-password-newline": (
        "spack_client",
        {"spack_buildhost_rsync_password": RSYNC_PASSWORD + "\nroot:x"},
        ["spack_buildhost_rsync_password"],
    ),
    "spack-client-user-root": (
        "spack_client",
        {"spack_buildhost_client_user": "root"},
        ["spack_buildhost_client_user"],
    ),
    "spack-rsync-user-newline": (
        "spack_buildhost",
        {"spack_buildhost_rsync_user": "hpcstack\n[evil]"},
        ["spack_buildhost_rsync_user"],
    ),
    "spack-environment-name-newline": (
        "spack_buildhost",
        {
            "spack_buildhost_environments": {"prod\n": {"specs": ["zlib"]}},
            "spack_buildhost_enabled_environments": ["prod\n"],
        },
        ["spack_buildhost_environments"],
    ),
}


@dataclass
class Outcome:
    """What the run did on one case's host: the task that failed (if any) and its messages, and the host's stats."""

    failed_task: str | None = None
    messages: list[str] = field(default_factory=list)
    failed_in_assertion: bool = False
    stats: dict = field(default_factory=dict)


def inventory() -> dict:
    groups: dict[str, dict] = {entry: {"hosts": {SENTINEL: None}} for entry in ENTRY_POINTS}
    for name, (entry, variables) in VALID.items():
        groups[entry]["hosts"][name] = {**ENTRY_POINTS[entry][2], **variables}
    for name, (entry, variables, _expected) in HOSTILE.items():
        groups[entry]["hosts"][name] = {**ENTRY_POINTS[entry][2], **variables}
    # The bastion of the reverse tunnel's cases, in no play.
    groups["bastion_hosts"] = {"hosts": {"gw": None}}
    return {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": "/nonexistent/python3"},
            "children": groups,
        }
    }


def plays() -> list[dict]:
    return [
        {
            "name": entry,
            "hosts": entry,
            "gather_facts": False,
            "tasks": [
                {
                    "name": f"Check the {entry} variables",
                    "ansible.builtin.include_role": {"name": f"hpcstack.cluster.{role}", "tasks_from": tasks_from},
                    "when": f"inventory_hostname != '{SENTINEL}'",
                }
            ],
        }
        for entry, (role, tasks_from, _common_vars, _stop_task) in ENTRY_POINTS.items()
    ]


def failure(result: dict) -> tuple[list[str], bool]:
    """The messages of a failed result (of each failed item, for a loop) and whether an assertion failed."""
    # A failed assert item carries its `assertion`; ansible-core 2.21 no longer marks loop items `failed` in the
    # json callback's report (2.19 does).
    failed = [result] + [item for item in result.get("results", []) if item.get("failed") or "assertion" in item]
    return [str(r.get("msg", "")) for r in failed], any("assertion" in r for r in failed)


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, ansible_playbook_json
) -> tuple[subprocess.CompletedProcess[str], dict[str, Outcome]]:
    """Run every entry point's checks once for all cases; return the run and each case host's outcome."""
    tmp_path = tmp_path_factory.mktemp("preflight")
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory()))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays(), sort_keys=False))
    result = ansible_playbook_json("-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"))
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook printed no JSON report:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    outcomes = {host: Outcome(stats=stats) for host, stats in report["stats"].items()}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, host_result in task["hosts"].items():
                outcome = outcomes[host]
                if host_result.get("failed") and outcome.failed_task is None:
                    # The json callback names a role's task "<role> : <name>".
                    outcome.failed_task = task["task"]["name"].split(" : ", 1)[-1]
                    outcome.messages, outcome.failed_in_assertion = failure(host_result)
    return result, outcomes


def test_the_run_ends_with_failed_hosts_and_changes_nothing(run) -> None:
    result, outcomes = run
    # 2: some hosts failed; anything else (4 unreachable, 1 or 250 an error of the run itself) is a broken test.
    assert result.returncode == 2, result.stderr[-3000:]
    assert set(outcomes) == {SENTINEL, *VALID, *HOSTILE}
    assert {host: o.stats["changed"] for host, o in outcomes.items() if o.stats["changed"]} == {}


@pytest.mark.parametrize("case", list(VALID))
def test_valid_values_pass_every_check(run, case: str) -> None:
    outcome = run[1][case]
    entry = VALID[case][0]
    # Where the preflight goes on to a module task, the case stops there, after every assertion passed.
    assert outcome.failed_task == ENTRY_POINTS[entry][3], outcome.messages
    assert not outcome.failed_in_assertion, outcome.messages


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_value_fails_an_assertion_naming_the_variable(run, case: str) -> None:
    outcome = run[1][case]
    shown = HOSTILE[case][2]
    assert outcome.failed_task is not None, f"{case}: every check passed"
    assert outcome.failed_task.startswith("Assert"), (outcome.failed_task, outcome.messages)
    assert outcome.failed_in_assertion, outcome.messages
    text = " ".join(outcome.messages)
    for expected in shown:
        assert expected in text, text
    assert outcome.stats["changed"] == 0
