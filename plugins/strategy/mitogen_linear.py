# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strategy plugin hpcstack.cluster.mitogen_linear: Ansible's linear strategy run by Mitogen for Ansible.

Opting in is one setting (ansible.cfg `strategy = hpcstack.cluster.mitogen_linear`, or the environment variable
ANSIBLE_STRATEGY) once the `mitogen` package is installed beside Ansible. Mitogen keeps one Python interpreter per
host for the whole run instead of starting one per task; it takes over the connections it knows by their short
names (`ssh`, `docker`, `local` ...), which is why the collection's inventories spell the Docker connection `docker`.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: mitogen_linear
short_description: Ansible's linear strategy, executed by Mitogen for Ansible
version_added: 0.1.0
description:
  - The C(linear) strategy (every host finishes a task before any starts the next) with Mitogen for Ansible
    as the executor. Mitogen starts one Python interpreter per host for the whole run and sends modules to it, instead
    of starting an interpreter and copying or piping each module for every task.
  - It takes over the connections it knows by their short names (C(ssh), C(docker), C(local) and others); a host
    whose connection is given by a fully qualified name, such as C(community.docker.docker), runs as with the default
    strategy.
  - On a controller with fewer than four CPUs Mitogen's own CPU pinning is left out; Mitogen would pin every task
    worker and the top-level process to one CPU there.
  - Roles of this collection behave the same under both executors; C(make test) runs them under both.
  - Mitogen is a third-party strategy, so ansible-core 2.19 and later print a deprecation warning when it is used.
requirements:
  - mitogen (PyPI) 0.3.54 or later, on the Ansible controller
"""

import multiprocessing

from ansible.errors import AnsibleError
from ansible.plugins.strategy.linear import StrategyModule as LinearStrategyModule

try:
    import ansible_mitogen.affinity
    import ansible_mitogen.loaders
    import ansible_mitogen.strategy
except ImportError as error:  # reported when the strategy is used, not when plugins are listed
    MITOGEN_ERROR: Exception | None = error
except AnsibleError as error:  # Mitogen refuses an Ansible release it does not support
    MITOGEN_ERROR = error
else:
    MITOGEN_ERROR = None

# Mitogen's policy reserves CPU 0 for its multiplexer and, on a 2- or 3-CPU machine, pins every task worker and the
# top-level process to the one CPU left: measured on 2 CPUs, a play of 50 skipped tasks on 3 hosts took 3.3 s pinned
# and 2.2 s without (tools/bench.py shows the whole-run effect).
MIN_CPUS_FOR_PINNING = 4

if MITOGEN_ERROR is None:
    if multiprocessing.cpu_count() < MIN_CPUS_FOR_PINNING:
        ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, LinearStrategyModule):
        """The linear strategy, executed by Mitogen."""

else:

    class StrategyModule(LinearStrategyModule):  # type: ignore[no-redef]
        """Stands in for the Mitogen strategy where Mitogen cannot load, to say why."""

        def __init__(self, *args, **kwargs):
            raise AnsibleError(
                "strategy hpcstack.cluster.mitogen_linear needs Mitogen for Ansible on the Ansible controller"
                f" (pip install 'mitogen>=0.3.54'): {MITOGEN_ERROR}"
            )
