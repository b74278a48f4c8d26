# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options and attributes every hpcstack.cluster Slurm module shares (they all use module_utils/_slurm.py)."""


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  timeout:
    description:
      - Seconds each Slurm command (C(sacctmgr), C(scontrol), ...) may take before the module gives up on it.
      - At least 1; checked, as every option, before the module runs any Slurm command.
    type: int
    default: 60
requirements:
  - Slurm's client commands on the host the module runs on (the controller, or any host with C(slurm-client)
    and a munge key). Run it there with C(delegate_to) or a play on the controller's group.
notes:
  - "Every option is checked before the first Slurm command, and an error names the option: names (users,
    accounts, QOS, clusters, partitions) of letters, digits, C(_), C(-), C(.) and C(@) only, since C(,), C(=), spaces,
    quotes and line breaks would change what C(sacctmgr) or C(scontrol) does."
  - Every command that changed Slurm, or would in check mode, is returned in C(commands) as a shell-quoted string;
    the module itself never goes through a shell.
  - Works with Slurm 22.05 and later (tested on 22.05.8 and 24.11.5).
attributes:
  check_mode:
    support: full
    description: Reads the state, computes the commands and returns them with C(changed) without running them.
  diff_mode:
    support: full
    description: Returns the state before and after as C(diff).
  platform:
    platforms: posix
    support: full
    description: Runs on the host that has Slurm's client commands.
"""
