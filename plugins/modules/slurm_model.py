#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation of the action plugin hpcstack.cluster.slurm_model (plugins/action/slurm_model.py does the work)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: slurm_model
short_description: Compute the Slurm model of the whole cluster from the inventory, once
version_added: 0.2.0
description:
  - Reads the inventory on the Ansible controller and returns what C(slurm.conf), C(gres.conf) and C(cgroup.conf)
    say, and every problem with it. The slurm_common role runs it once per play (C(run_once)); its templates render
    the result. The work grows linearly with the number of compute hosts.
  - Nodes come from each compute host's facts (CPU layout, memory, the GPUs of the fact C(hpcstack_gpus)) with the
    host's C(slurm_node) over them; identical nodes share one hostlist-compressed C(NodeName) line.
  - A compute host whose hardware facts are unknown in this run (left out by C(--limit), and no fact cache holds
    them) is described by the record the controller keeps of the hardware it was last configured with
    (O(hardware_record)), read from the host the task is delegated to. Delegate the task to the controller.
  - The error messages name the slurm_common role's variables, which set these options (C(slurm_<option>)), or a
    compute host's C(slurm_node) or C(slurm_gres_autodetect).
options:
  cluster_name:
    description: C(ClusterName); a lower-case letter, then up to 39 lower-case letters, digits, C(_) or C(-).
    type: raw
    required: true
  controller_group:
    description: Inventory group whose first host runs slurmctld.
    type: str
    default: slurm_controller
  compute_group:
    description: Inventory group of the compute nodes.
    type: str
    default: slurm_compute
  slurmdbd_group:
    description: Inventory group whose first host runs slurmdbd; empty or missing turns accounting off.
    type: str
    default: slurmdbd
  config_mode:
    description:
      - V(configless) turns on C(enable_configless); V(push) leaves it off.
      - This option and the ports and directories below are checked by the model, not by Ansible's argument check, so
        that a bad value is reported in RV(model.errors) with the other problems, naming the role variable that set it.
    type: raw
    default: configless
  partitions:
    description: Partitions as the slurm_common role's C(slurm_partitions) describes them.
    type: raw
    default: [{name: batch, default: true}]
  conf_options:
    description: C(slurm.conf) parameters over the collection's defaults; a null value removes one.
    type: raw
    default: {}
  cgroup_options:
    description: C(cgroup.conf) parameters over the defaults.
    type: raw
    default: {}
  gres_autodetect:
    description: V(nvml) or V(off), for hosts that do not set C(slurm_gres_autodetect) themselves.
    type: raw
    default: nvml
  gres_conf_extra:
    description: More C(gres.conf) lines.
    type: raw
    default: []
  slurmctld_port:
    description: slurmctld's port.
    type: raw
    default: 6817
  slurmd_port:
    description: slurmd's port.
    type: raw
    default: 6818
  slurmdbd_port:
    description: slurmdbd's port.
    type: raw
    default: 6819
  log_dir:
    description: Directory of the daemons' log files.
    type: raw
    default: /var/log/slurm
  state_save_location:
    description: slurmctld's C(StateSaveLocation).
    type: raw
    default: /var/lib/slurm/slurmctld
  slurmd_spool_dir:
    description: slurmd's C(SlurmdSpoolDir).
    type: raw
    default: /var/lib/slurm/slurmd
  hardware_record:
    description:
      - Path, on the host the task is delegated to, of the JSON record of the compute hosts' hardware (the return
        value RV(model.hardware) of the last run that configured the controller). Read only when some compute host
        has no hardware facts in this run.
    type: path
    default: /etc/slurm/hpcstack-hardware.json
  fail_on_error:
    description: Fail when the model has errors (they are returned in RV(model.errors) either way).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    description: Only reads, so it runs the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Runs on the Ansible controller; reads O(hardware_record) from the host it is delegated to.
  action:
    support: full
    description: An action plugin; the work is done on the Ansible controller.
  run_once:
    support: full
    description: Meant to run once per play; the result is the same for every host.
author:
  - hpcstack maintainers (@hpcstack)
requirements:
  - python-hostlist on the Ansible controller
"""

EXAMPLES = r"""
- name: Compute and check the Slurm model
  hpcstack.cluster.slurm_model:
    cluster_name: "{{ slurm_cluster_name }}"
    partitions: "{{ slurm_partitions }}"
  delegate_to: "{{ groups['slurm_controller'][0] }}"
  run_once: true
  register: model

- name: Show the node lines of slurm.conf
  ansible.builtin.debug:
    var: model.model.node_lines
  run_once: true
"""

RETURN = r"""
model:
  description: The model.
  returned: always
  type: dict
  contains:
    controller_host:
      description: Inventory name of the controller ('' without one).
      type: str
    controller_name:
      description: Its short host name (C(SlurmctldHost)).
      type: str
    accounting_host:
      description: Inventory name of the slurmdbd host ('' without one).
      type: str
    accounting_name:
      description: Its short host name (C(AccountingStorageHost)).
      type: str
    compute_hosts:
      description: The compute hosts, in inventory order.
      type: list
      elements: str
    node_names:
      description: Slurm node name of each compute host (slurmd C(-N)).
      type: dict
    node_lines:
      description: C(slurm.conf) C(NodeName) lines, one per set of identical nodes, hostlist-compressed.
      type: list
      elements: str
      sample: ["NodeName=compute[01-16] CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105"]
    partition_lines:
      description: C(slurm.conf) C(PartitionName) lines.
      type: list
      elements: str
      sample: ["PartitionName=batch Nodes=compute[01-16] Default=YES State=UP"]
    gres_conf_lines:
      description: C(gres.conf) lines, identical nodes' lines compressed, then C(gres_conf_extra).
      type: list
      elements: str
    gres_types:
      description: GRES types of the nodes (C(GresTypes)).
      type: list
      elements: str
    conf:
      description: The C(slurm.conf) parameters, in order, as strings.
      type: dict
    cgroup_conf:
      description: The C(cgroup.conf) parameters.
      type: dict
    restart_settings:
      description: What the daemons apply only on a restart (node lines, ports, plugins, cgroup.conf, gres.conf).
      type: dict
    restart_digest:
      description: SHA-256 of RV(model.restart_settings); a daemon that runs with another one needs a restart.
      type: str
    hardware:
      description: The hardware facts the model used, by compute host (what the controller records).
      type: dict
    recorded_hardware_hosts:
      description: Compute hosts described by the controller's record because their facts were unknown.
      type: list
      elements: str
    errors:
      description: Every problem found, each naming the variable to fix; at most 20 of each kind.
      type: list
      elements: str
"""
