# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of hpcstack.cluster.slurm_model: the Slurm model of the whole cluster, computed once on the controller.

Reads the inventory (the groups, each compute host's facts, slurm_node and slurm_gres_autodetect) and hands it to
plugin_utils.slurm_model.build. A compute host whose hardware facts are unknown in this run (left out by --limit,
with no fact cache) is described by the record the controller keeps of the hardware it was last configured with;
that record is read from the host the task is delegated to (the controller) only when such a host exists.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase
from ansible_collections.hpcstack.cluster.plugins.plugin_utils import slurm_model

ARGUMENT_SPEC = {
    "cluster_name": {"type": "raw", "required": True},
    "controller_group": {"type": "str", "default": "slurm_controller"},
    "compute_group": {"type": "str", "default": "slurm_compute"},
    "slurmdbd_group": {"type": "str", "default": "slurmdbd"},
    "config_mode": {"type": "raw", "default": "configless"},
    "partitions": {"type": "raw", "default": [{"name": "batch", "default": True}]},
    "conf_options": {"type": "raw", "default": {}},
    "cgroup_options": {"type": "raw", "default": {}},
    "gres_autodetect": {"type": "raw", "default": "nvml"},
    "gres_conf_extra": {"type": "raw", "default": []},
    "slurmctld_port": {"type": "raw", "default": 6817},
    "slurmd_port": {"type": "raw", "default": 6818},
    "slurmdbd_port": {"type": "raw", "default": 6819},
    "log_dir": {"type": "raw", "default": "/var/log/slurm"},
    "state_save_location": {"type": "raw", "default": "/var/lib/slurm/slurmctld"},
    "slurmd_spool_dir": {"type": "raw", "default": "/var/lib/slurm/slurmd"},
    "cloud_nodes": {"type": "raw", "default": []},
    "power_resume_timeout": {"type": "raw", "default": 600},
    "power_suspend_timeout": {"type": "raw", "default": 120},
    "power_resume_rate": {"type": "raw", "default": 0},
    "power_suspend_rate": {"type": "raw", "default": 0},
    "power_launch_backoff": {"type": "raw", "default": 60},
    "power_orphan_grace": {"type": "raw", "default": 300},
    "power_max_nodes": {"type": "raw", "default": 0},
    "hardware_record": {"type": "path", "default": "/etc/slurm/hpcstack-hardware.json"},
    "fail_on_error": {"type": "bool", "default": True},
}


FACT_KEYS = (*slurm_model.HARDWARE_FACTS, "hpcstack_gpus")


def has_hardware(facts: Mapping[str, Any]) -> bool:
    return facts.get("memtotal_mb") is not None


class ActionModule(ActionBase):
    """Compute the Slurm model; fail, naming every variable to fix, when it has errors."""

    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        if slurm_model.HOSTLIST_ERROR:
            return {
                **result,
                "failed": True,
                "msg": f"slurm_model needs python-hostlist on the controller: {slurm_model.HOSTLIST_ERROR}",
            }
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        groups = task_vars["groups"]
        hostvars = task_vars["hostvars"]
        compute_hosts = list(groups.get(args["compute_group"], []))
        controller_host = (groups.get(args["controller_group"]) or [""])[0]
        accounting_host = (groups.get(args["slurmdbd_group"]) or [""])[0]

        hosts: dict[str, dict[str, Any]] = {}
        for host in compute_hosts:
            hosts[host] = self._host_inputs(hostvars, host)
        # The daemons' hosts: their names (SlurmctldHost, AccountingStorageHost, --conf-server) come from facts.
        daemons = {
            host: self._host_inputs(hostvars, host)["facts"]
            for host in dict.fromkeys((controller_host, accounting_host))
            if host
        }
        unknown = [host for host in compute_hosts if not has_hardware(hosts[host]["facts"])]
        unknown += [host for host, facts in daemons.items() if not facts.get("hostname") and host not in hosts]
        recorded_from = []
        if unknown:
            record = self._read_record(args["hardware_record"], task_vars)
            for host in unknown:
                if host not in record:
                    continue
                recorded_from.append(host)
                if host in hosts:
                    hosts[host]["facts"] = record[host]
                if host in daemons:
                    daemons[host] = record[host]
        for host in daemons:
            if host in hosts:
                daemons[host] = hosts[host]["facts"]

        settings = {
            key: args[key]
            for key in (
                "cluster_name", "controller_group", "compute_group", "config_mode", "partitions", "conf_options",
                "cgroup_options", "gres_autodetect", "gres_conf_extra", "slurmctld_port", "slurmd_port",
                "slurmdbd_port", "log_dir", "state_save_location", "slurmd_spool_dir", "cloud_nodes",
                "power_resume_timeout", "power_suspend_timeout", "power_resume_rate", "power_suspend_rate",
                "power_launch_backoff", "power_orphan_grace", "power_max_nodes",
            )
        }  # fmt: skip
        settings.update(
            controller_host=controller_host,
            controller_facts=daemons.get(controller_host, {}),
            accounting_host=accounting_host,
            accounting_facts=daemons.get(accounting_host, {}),
        )
        model = slurm_model.build(settings, hosts)
        model["recorded_hardware_hosts"] = recorded_from
        undescribed = [host for host in unknown if host not in recorded_from and host in hosts]
        if undescribed and model["errors"]:
            model["errors"].append(
                f"{len(undescribed)} compute host(s) have no hardware facts in this run and are not in the "
                f"controller's record ({args['hardware_record']} on {controller_host or 'no controller'}), e.g. "
                f"{', '.join(undescribed[:5])}: converge them once without --limit (or keep a fact cache), or give "
                "their hardware in slurm_node"
            )
        result.update(changed=False, model=model)
        if model["errors"] and args["fail_on_error"]:
            result.update(failed=True, msg="; ".join(model["errors"]))
        return result

    def _host_inputs(self, hostvars: Any, host: str) -> dict[str, Any]:
        """Return what the model reads of one host: the facts it uses, its slurm_node and slurm_gres_autodetect.

        Only those are templated (in the host's own context): a host's whole facts, templated thousands of times,
        would cost more than the model itself.
        """
        variables = hostvars.raw_get(host)
        facts = variables.get("ansible_facts") or {}
        inputs: dict[str, Any] = {"facts": {key: facts[key] for key in FACT_KEYS if key in facts}}
        templar = None
        for key, variable in (("slurm_node", "slurm_node"), ("gres_autodetect", "slurm_gres_autodetect")):
            value = variables.get(variable)
            if value is not None:
                templar = templar or self._templar.copy_with_new_env(available_variables=variables)
                value = templar.template(value)
            inputs[key] = value
        return inputs

    def _read_record(self, path: str, task_vars: dict) -> dict[str, Any]:
        """Return the hardware the controller recorded, by host; empty when it has none or cannot be reached."""
        try:
            answer = self._execute_module(
                module_name="ansible.builtin.slurp", module_args={"src": path}, task_vars=task_vars
            )
        except AnsibleError:
            return {}
        if answer.get("failed") or "content" not in answer:
            return {}
        try:
            record = json.loads(base64.b64decode(answer["content"]))
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}
