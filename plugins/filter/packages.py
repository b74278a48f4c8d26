# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Installed Debian packages: parse `dpkg-query` once per run, and which of a role's packages are missing.

The playbooks' check plays read the installed packages once (playbooks/tasks/installed_packages.yml); each role
then runs its apt task only where `missing_packages` is not empty.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# The format playbooks/tasks/installed_packages.yml gives dpkg-query: status, package, what it provides.
DPKG_QUERY_FORMAT = "${db:Status-Abbrev}|${Package}|${Provides}\n"


def dpkg_installed(stdout: str) -> list[str]:
    """Return the names installed packages answer to: each installed package and every name it provides.

    Provided names count because a release may rename a package and keep the old name as a Provides (Debian 13's
    64-bit time_t transition: libpmix2 became libpmix2t64, which provides libpmix2). Packages that are only
    configured, half-installed or removed with their config files left (status other than "ii") do not count.
    """
    if not isinstance(stdout, str):
        raise AnsibleFilterError(f"dpkg_installed expects dpkg-query's output as a string, got {type(stdout).__name__}")
    names: set[str] = set()
    for line in stdout.splitlines():
        fields = line.split("|")
        if len(fields) < 2 or not fields[0].startswith("ii"):
            continue
        names.add(fields[1].split(":", 1)[0])
        if len(fields) > 2 and fields[2].strip():
            for provided in fields[2].split(","):
                name = provided.split()[0] if provided.split() else ""
                if name:
                    names.add(name.split(":", 1)[0])
    return sorted(names)


def missing_packages(wanted: list[str], installed: list[str] | None) -> list[str]:
    """Return the packages of `wanted` not in `installed`, in order; all of them when `installed` is None (unknown)."""
    if isinstance(wanted, str) or not all(isinstance(name, str) for name in wanted):
        raise AnsibleFilterError(f"missing_packages expects a list of package names, got {wanted!r}")
    if installed is None:
        return list(wanted)
    present = set(installed)
    return [name for name in wanted if name.split("=", 1)[0] not in present]


class FilterModule:
    """Installed-package filters."""

    def filters(self) -> dict:
        return {"dpkg_installed": dpkg_installed, "missing_packages": missing_packages}
