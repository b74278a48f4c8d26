# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one runner behind the hpcstack.cluster Slurm modules (private to the collection).

It runs sacctmgr, scontrol, sinfo and squeue as argument lists (never shell strings) under LC_ALL=C and a
timeout, reads with explicit formats (`sacctmgr -nP ... format=`, `scontrol -o`), writes with `sacctmgr -i`,
records every command that ran or, in check mode, would run, and turns Slurm's values into comparable ones:
durations into minutes, TRES strings into dicts with memory in MiB, lists into sorted lists, names into the
lower case Slurm stores them in.

sacctmgr's exit code does not tell success: it exits 1 for "Nothing new added" as for a real error, and 0
after some rejected values. The modules therefore validate input themselves before any write and decide the
outcome by reading the state back (`SlurmRunner.verify`).
"""

from __future__ import annotations

import re
import shlex
from typing import Any

DEFAULT_TIMEOUT = 60
UNLIMITED = None  # the normalised value of a cleared limit

# sacctmgr writes that changed nothing (22.05 and 24.11 word it differently); a non-zero exit with one of these and
# none of the error phrases is not an error. 22.05 prints "Nothing new added." also next to "doesn't exist", and
# 24.11 "Nothing added." next to "No account ... skipping", hence the second list.
_NOTHING_DONE = (
    "Nothing new added",
    "Nothing modified",
    "Nothing deleted",
    "Already existing",
    "already exists",
    "Request didn't affect anything",
)
_ERROR_PHRASES = ("doesn't exist", "error", "skipping", "invalid", "unknown", "bad ")  # compared in lower case


class SlurmError(Exception):
    """A Slurm command failed, or the input cannot be turned into one."""

    def __init__(self, msg: str, rc: int | None = None, stdout: str = "", stderr: str = "", cmd: str = ""):
        super().__init__(msg)
        self.msg = msg
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.cmd = cmd


# --- input checks (run before any Slurm command) -------------------------------------------------------------
# A name reaches sacctmgr inside one argument (`name=carol`, `account=physics`, `QOS=normal,short`), where `,` is
# a list separator (`name=carol,root` is two users), and scontrol reads `Key=value` pairs; `=`, whitespace, quotes
# and line breaks would change what the command does or what is read back. Slurm's own names need none of them.
NAME_RULE = "letters, digits, '_', '-', '.', '@'"  # '@': fully qualified logins (SSSD's user@domain)
HOST_RULE = "letters, digits, '_', '-', '.'"
_NAME = re.compile(r"[A-Za-z0-9_.@-]+")
# A hostlist: names and bracketed ranges (`compute[01-04,07]`), separated by commas: `a,b`, `rack[1-2]-n[01-04]`.
_HOSTLIST = re.compile(r"(?:[A-Za-z0-9_.-]|\[[0-9,-]+\])+(?:,(?:[A-Za-z0-9_.-]|\[[0-9,-]+\])+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SACCTMGR_TEXT_FORBIDDEN = "'\"|"  # sacctmgr ends a value at a quote; `sacctmgr -P` separates fields with `|`


def check_name(value: Any, field: str) -> str:
    """`value` as a Slurm name (user, account, QOS, cluster, partition, ...); SlurmError naming `field` if not one."""
    text = "" if value is None else str(value)
    if not _NAME.fullmatch(text):
        raise SlurmError(f"{field}: {text!r} is not a valid Slurm name ({NAME_RULE})")
    return text


def check_names(values: Any, field: str) -> list[str]:
    """A list (or comma-separated string) of names as parse_list gives it, each checked with check_name."""
    names = parse_list(values, lower=False)
    for name in names:
        check_name(name, field)
    return names


def check_hostlist(value: Any, field: str) -> str:
    """`value` as a Slurm hostlist expression (`compute[01-04]`, `a,b`); SlurmError naming `field` if not one."""
    text = "" if value is None else str(value)
    if not _HOSTLIST.fullmatch(text):
        raise SlurmError(
            f"{field}: {text!r} is not a valid Slurm hostlist (names of {HOST_RULE}, ranges such as "
            "compute[01-04,07], separated by ',')"
        )
    return text


def check_text(value: Any, field: str, forbidden: str = "") -> str:
    """Free text (a description, a reason): one line without control characters or any of `forbidden`."""
    text = str(value)
    if _CONTROL.search(text) or any(char in text for char in forbidden):
        extra = f" or any of {' '.join(forbidden)}" if forbidden else ""
        raise SlurmError(f"{field}: {text!r} must be one line without control characters{extra}")
    return text


def check_params(
    params: dict,
    module: str,
    names: tuple[str, ...] = (),
    name_lists: tuple[str, ...] = (),
    hostlists: tuple[str, ...] = (),
    texts: tuple[str, ...] = (),
    minimums: dict[str, tuple[int | float, str]] | None = None,
) -> None:
    """Check a module's options before it runs any Slurm command; each failure names the option `<module>.<name>`.

    `names` are single Slurm names, `name_lists` lists of them, `hostlists` hostlist expressions, `texts` sacctmgr
    free text, `minimums` numbers by option: (least value, what the message says it must be). `timeout`, which every
    module takes, must be a positive number of seconds. Options left out (None) are not checked.
    """
    for key in names:
        if params.get(key) is not None:
            check_name(params[key], f"{module}.{key}")
    for key in name_lists:
        if params.get(key) is not None:
            check_names(params[key], f"{module}.{key}")
    for key in hostlists:
        if params.get(key) is not None:
            check_hostlist(params[key], f"{module}.{key}")
    for key in texts:
        if params.get(key) is not None:
            check_text(params[key], f"{module}.{key}", SACCTMGR_TEXT_FORBIDDEN)
    bounds = {"timeout": (1, "a positive number of seconds"), **(minimums or {})}
    for key, (least, what) in bounds.items():
        value = params.get(key)
        if value is not None and value < least:
            raise SlurmError(f"{module}.{key}: must be {what}, got {value}")


# --- normalisation ------------------------------------------------------------------------------------------
_DURATION = re.compile(r"^(?:(?P<days>\d+)-)?(?P<a>\d+)(?::(?P<b>\d+))?(?::(?P<c>\d+))?$")
_UNLIMITED_WORDS = {"", "-1", "unlimited", "infinite", "none"}


def parse_duration(value: Any, field: str) -> int | None:
    """Minutes of a Slurm duration (`90`, `1:30:00`, `2-12`, `1-00:00:00`); None when unlimited/cleared.

    Slurm's forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. Seconds round up to the next minute, as Slurm does.
    """
    if value is None or isinstance(value, bool):
        return UNLIMITED
    if isinstance(value, int):
        return UNLIMITED if value < 0 else value
    text = str(value).strip()
    if text.lower() in _UNLIMITED_WORDS:
        return UNLIMITED
    match = _DURATION.match(text)
    if not match:
        raise SlurmError(f"{field}: '{value}' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)")
    days, a, b, c = (int(g) if g else None for g in match.group("days", "a", "b", "c"))
    if days is not None:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = a, b or 0, c or 0
    elif c is not None:  # H:M:S
        days, hours, minutes, seconds = 0, a, b, c
    elif b is not None:  # M:S
        days, hours, minutes, seconds = 0, 0, a, b
    else:  # M
        days, hours, minutes, seconds = 0, 0, a, 0
    return ((days * 24 + hours) * 60 + minutes) + (1 if seconds else 0)


def format_limit(value: int | None) -> str:
    """The value sacctmgr takes for a count or a duration in minutes; -1 clears the limit."""
    return "-1" if value is None else str(value)


_TRES_ITEM = re.compile(r"^(?P<name>[a-z][a-z0-9_]*(?:/[a-z0-9_.:-]+)?)=(?P<count>-?\d+)(?P<unit>[kmgtp])?$", re.I)
_UNIT_MIB = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024**2, "p": 1024**3}


def parse_tres(value: Any, field: str) -> dict[str, int]:
    """A TRES specification (`cpu=4,mem=1G,gres/gpu=2` or a dict) as {name: count}, memory in MiB.

    An empty value, None or -1 means "no limit" and gives {}; a `name=-1` item is dropped (it clears that TRES).
    """
    if value is None or (isinstance(value, (str, int)) and str(value).strip().lower() in _UNLIMITED_WORDS):
        return {}
    if isinstance(value, dict):
        items = [f"{name}={count}" for name, count in value.items()]
    else:
        items = [item.strip() for item in str(value).split(",") if item.strip()]
    tres: dict[str, int] = {}
    for item in items:
        match = _TRES_ITEM.match(item)
        if not match:
            raise SlurmError(f"{field}: '{item}' is not a TRES item (name=count, e.g. cpu=4, mem=8G, gres/gpu=2)")
        name, count, unit = match.group("name").lower(), int(match.group("count")), match.group("unit")
        if unit and name != "mem":
            raise SlurmError(f"{field}: '{item}' has a size unit, which only mem takes")
        if count < 0:
            continue
        tres[name] = int(count * _UNIT_MIB[unit.lower()]) if unit else count
    return tres


def format_tres(wanted: dict[str, int], current: dict[str, int]) -> str:
    """The TRES string that turns `current` into `wanted`: wanted items, and name=-1 for each one to clear."""
    items = {**{name: -1 for name in current if name not in wanted}, **wanted}
    return ",".join(f"{name}={count}" for name, count in sorted(items.items()))


def parse_int(value: Any, field: str) -> int | None:
    """An integer limit; None when unlimited/cleared (-1, 'unlimited', empty)."""
    if value is None or isinstance(value, bool):
        return UNLIMITED
    text = str(value).strip()
    if text.lower() in _UNLIMITED_WORDS:
        return UNLIMITED
    try:
        number = int(text)
    except ValueError:
        raise SlurmError(f"{field}: '{value}' is not an integer") from None
    return UNLIMITED if number < 0 else number


def parse_list(value: Any, lower: bool = True) -> list[str]:
    """A comma-separated string or a list as a sorted, de-duplicated list (Slurm keeps no order)."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(item) for item in value]
    cleaned = {item.strip().lower() if lower else item.strip() for item in items}
    return sorted(item for item in cleaned if item and item != "(null)")


# Every limit: option name -> (sacctmgr set key, show field, kind). Associations (accounts, users) and QOS each take
# a subset, listed in the order of their `format=` fields.
_LIMITS: dict[str, tuple[str, str, str]] = {
    "grp_jobs": ("GrpJobs", "GrpJobs", "int"),
    "grp_submit_jobs": ("GrpSubmitJobs", "GrpSubmit", "int"),
    "grp_tres": ("GrpTRES", "GrpTRES", "tres"),
    "grp_tres_mins": ("GrpTRESMins", "GrpTRESMins", "tres"),
    "grp_tres_run_mins": ("GrpTRESRunMins", "GrpTRESRunMins", "tres"),
    "grp_wall": ("GrpWall", "GrpWall", "duration"),
    "max_jobs": ("MaxJobs", "MaxJobs", "int"),
    "max_submit_jobs": ("MaxSubmitJobs", "MaxSubmit", "int"),
    "max_tres_per_job": ("MaxTRESPerJob", "MaxTRES", "tres"),
    "max_tres_per_node": ("MaxTRESPerNode", "MaxTRESPerNode", "tres"),
    "max_tres_mins_per_job": ("MaxTRESMinsPerJob", "MaxTRESMins", "tres"),
    "max_tres_per_user": ("MaxTRESPerUser", "MaxTRESPU", "tres"),
    "max_tres_per_account": ("MaxTRESPerAccount", "MaxTRESPA", "tres"),
    "max_jobs_per_user": ("MaxJobsPerUser", "MaxJobsPU", "int"),
    "max_jobs_per_account": ("MaxJobsPerAccount", "MaxJobsPA", "int"),
    "max_submit_jobs_per_user": ("MaxSubmitJobsPerUser", "MaxSubmitPU", "int"),
    "max_submit_jobs_per_account": ("MaxSubmitJobsPerAccount", "MaxSubmitPA", "int"),
    "min_tres_per_job": ("MinTRESPerJob", "MinTRES", "tres"),
    "max_wall": ("MaxWall", "MaxWall", "duration"),
}
_ASSOCIATION_LIMIT_NAMES = (
    "grp_jobs",
    "grp_submit_jobs",
    "grp_tres",
    "grp_tres_mins",
    "grp_tres_run_mins",
    "grp_wall",
    "max_jobs",
    "max_submit_jobs",
    "max_tres_per_job",
    "max_tres_per_node",
    "max_tres_mins_per_job",
    "max_wall",
)
_QOS_LIMIT_NAMES = (
    "grp_jobs",
    "grp_submit_jobs",
    "grp_tres",
    "grp_tres_mins",
    "grp_wall",
    "max_tres_per_job",
    "max_tres_per_node",
    "max_tres_per_user",
    "max_tres_per_account",
    "max_jobs_per_user",
    "max_jobs_per_account",
    "max_submit_jobs_per_user",
    "max_submit_jobs_per_account",
    "min_tres_per_job",
    "max_wall",
)
ASSOCIATION_LIMITS = {name: _LIMITS[name] for name in _ASSOCIATION_LIMIT_NAMES}
QOS_LIMITS = {name: _LIMITS[name] for name in _QOS_LIMIT_NAMES}
_PARSERS = {"int": parse_int, "tres": parse_tres, "duration": parse_duration}


def parse_limits(limits: dict[str, Any] | None, table: dict[str, tuple[str, str, str]], field: str) -> dict:
    """The user's `limits` dict, checked against `table` and normalised; unknown names are an error."""
    if not limits:
        return {}
    unknown = sorted(set(limits) - set(table))
    if unknown:
        raise SlurmError(f"{field}: unknown limit(s) {', '.join(unknown)}; known: {', '.join(sorted(table))}")
    return {name: _PARSERS[table[name][2]](value, f"{field}.{name}") for name, value in limits.items()}


def read_limits(row: dict[str, str], table: dict[str, tuple[str, str, str]]) -> dict:
    """The limits that are set in a sacctmgr row read with the table's show fields, normalised."""
    limits = {name: _PARSERS[kind](row.get(show, ""), show) for name, (_set, show, kind) in table.items()}
    return compact_limits(limits)


def compact_limits(limits: dict) -> dict:
    """Limits without the unset/cleared ones (None, {}), the form they are compared and shown in."""
    return {name: value for name, value in limits.items() if value not in (None, {})}


def limit_settings(wanted: dict, current: dict, table: dict[str, tuple[str, str, str]]) -> list[str]:
    """`Key=value` sacctmgr settings for the limits whose wanted value differs from the current one."""
    settings = []
    for name, value in sorted(wanted.items()):
        key, _show, kind = table[name]
        unset = {} if kind == "tres" else None
        if value == current.get(name, unset):
            continue
        formatted = format_tres(value, current.get(name, {})) if kind == "tres" else format_limit(value)
        settings.append(f"{key}={formatted}")
    return settings


# --- scontrol's one-line records ------------------------------------------------------------------------------
_SCONTROL_KEY = re.compile(r"(?:^|\s)([A-Z][A-Za-z0-9_]*(?:/[A-Za-z0-9_]+)?)=")


def parse_scontrol_record(line: str) -> dict[str, str]:
    """`Key=value Key=value ...` of `scontrol -o show ...` as a dict; values may hold spaces (Reason, OS)."""
    matches = list(_SCONTROL_KEY.finditer(line))
    record = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        record[match.group(1)] = line[match.end() : end].strip()
    return record


def null_to_empty(value: str | None) -> str:
    return "" if value in (None, "(null)", "N/A", "NONE", "n/a") else value


class SlurmRunner:
    """Runs Slurm's commands for one module invocation and remembers what ran (or would run)."""

    def __init__(self, module, timeout: int | None = None):
        self.module = module
        self.timeout = timeout or DEFAULT_TIMEOUT
        self.commands: list[str] = []
        self.said: list[str] = []  # what Slurm wrote on stderr for writes that exited 0
        self._timeout_bin = module.get_bin_path("timeout")
        self._bins: dict[str, str] = {}

    # -- plumbing
    def _argv(self, tool: str, args: list[str]) -> list[str]:
        if tool not in self._bins:
            path = self.module.get_bin_path(tool)
            if not path:
                raise SlurmError(f"{tool} was not found: run this module on a host with Slurm's client commands")
            self._bins[tool] = path
        argv = [self._bins[tool], *args]
        return [self._timeout_bin, str(self.timeout), *argv] if self._timeout_bin else argv

    def _run(self, tool: str, args: list[str]) -> tuple[int, str, str]:
        argv = self._argv(tool, args)
        rc, out, err = self.module.run_command(
            argv, environ_update={"LC_ALL": "C", "LANG": "C", "SLURM_TIME_FORMAT": "standard"}
        )
        if rc == 124 and self._timeout_bin:
            raise SlurmError(
                f"{tool} did not answer within {self.timeout} s",
                rc=rc,
                stdout=out,
                stderr=err,
                cmd=shlex.join([tool, *args]),
            )
        return rc, out, err

    @staticmethod
    def message(out: str, err: str) -> str:
        """Slurm's own words from a failed command, on one line."""
        lines = [line.strip() for line in (err + "\n" + out).splitlines() if line.strip()]
        return "; ".join(dict.fromkeys(lines)) or "no output"

    # -- reads
    def read(self, tool: str, args: list[str], what: str) -> str:
        rc, out, err = self._run(tool, args)
        if rc != 0:
            raise SlurmError(
                f"Failed to read {what}: {self.message(out, err)}",
                rc=rc,
                stdout=out,
                stderr=err,
                cmd=shlex.join([tool, *args]),
            )
        return out

    def sacctmgr_show(
        self, entity: str, fields: list[str], where: list[str] | None = None, options: list[str] | None = None
    ) -> list[dict[str, str]]:
        """Rows of `sacctmgr -nP show <entity> [options] format=<fields> [where ...]` as dicts."""
        args = ["-nP", "show", entity, *(options or []), "format=" + ",".join(fields)]
        if where:
            args += ["where", *where]
        out = self.read("sacctmgr", args, f"Slurm {entity} records")
        rows = []
        for line in out.splitlines():
            if not line.strip():
                continue
            values = line.split("|")
            rows.append(dict(zip(fields, values + [""] * (len(fields) - len(values)), strict=False)))
        return rows

    def scontrol_show(self, entity: str, name: str | None = None, missing_ok: bool = True) -> list[dict[str, str]]:
        """Records of `scontrol -o show <entity> [name]`; [] when the named object does not exist."""
        args = ["-o", "show", entity] + ([name] if name else [])
        rc, out, err = self._run("scontrol", args)
        if rc != 0:
            if missing_ok and name and "not found" in (out + err):
                return []
            raise SlurmError(
                f"Failed to read Slurm {entity}: {self.message(out, err)}",
                rc=rc,
                stdout=out,
                stderr=err,
                cmd=shlex.join(["scontrol", *args]),
            )
        return [parse_scontrol_record(line) for line in out.splitlines() if "=" in line]

    def hostnames(self, hostlist: str) -> list[str]:
        """The node names of a hostlist expression, expanded by Slurm itself."""
        if not hostlist:
            return []
        return self.read("scontrol", ["show", "hostnames", hostlist], f"hostlist {hostlist}").split()

    def version(self) -> tuple[int, ...]:
        """Slurm's version as a tuple, e.g. (22, 5, 8), from `scontrol --version` ('slurm 22.05.8')."""
        out = self.read("scontrol", ["--version"], "the Slurm version")
        match = re.search(r"(\d+)\.(\d+)\.(\d+)", out)
        if not match:
            raise SlurmError(f"Failed to read the Slurm version from '{out.strip()}'")
        return tuple(int(part) for part in match.groups())

    # -- writes
    def change(self, tool: str, args: list[str], what: str) -> None:
        """Run a command that changes Slurm (recorded; skipped in check mode); fail with Slurm's message."""
        self.commands.append(shlex.join([tool, *args]))
        if self.module.check_mode:
            return
        rc, out, err = self._run(tool, args)
        text = out + err
        nothing_done = any(phrase in text for phrase in _NOTHING_DONE)
        if rc != 0 and not (nothing_done and not any(phrase in text.lower() for phrase in _ERROR_PHRASES)):
            raise SlurmError(
                f"Failed to {what}: {self.message(out, err)}",
                rc=rc,
                stdout=out,
                stderr=err,
                cmd=shlex.join([tool, *args]),
            )
        if err.strip():  # 22.05 exits 0 after refusing some settings; keep its words for verify()
            self.said.append(self.message("", err))

    def sacctmgr_change(self, args: list[str], what: str) -> None:
        self.change("sacctmgr", ["-i", *args], what)

    def verify(self, pending: list[str], what: str) -> None:
        """Fail when the plan made from the state read back after the writes is not empty (sacctmgr can lie)."""
        if pending:
            said = f" (Slurm said: {'; '.join(self.said)})" if self.said else ""
            raise SlurmError(
                f"Slurm did not apply all changes to {what}: still differing after the run: {', '.join(pending)}{said}"
            )

    def exit(self, changed: bool, before: Any, after: Any, **result) -> None:
        """exit_json with `changed`, the commands and, under --diff, the state before and after."""
        if self.module._diff:
            result["diff"] = {"before": before, "after": after}
        self.module.exit_json(changed=changed, commands=self.commands, **result)

    def fail(self, error: SlurmError, **result) -> None:
        """fail_json with the error's one-line message, what ran, and Slurm's output."""
        extra = {
            key: value
            for key, value in (("rc", error.rc), ("stdout", error.stdout), ("stderr", error.stderr), ("cmd", error.cmd))
            if value not in (None, "")
        }
        self.module.fail_json(msg=error.msg, commands=self.commands, **extra, **result)


# --- associations (the account tree and users' places in it) ---------------------------------------------------
ASSOCIATION_FIELDS = ["Share", *(show for _set, show, _kind in ASSOCIATION_LIMITS.values()), "QOS", "DefaultQOS"]


def parse_fairshare(value: Any, field: str) -> int | str | None:
    """Fairshare: a non-negative number of shares or 'parent'."""
    if value is None or value == "":
        return None
    if str(value).lower() == "parent":
        return "parent"
    number = parse_int(value, field)
    if number is None:
        raise SlurmError(f"{field}: '{value}' is not a number of shares or 'parent'")
    return number


def read_association(row: dict[str, str]) -> dict:
    """The normalised settings of one association row read with ASSOCIATION_FIELDS."""
    return {
        "fairshare": parse_fairshare(row.get("Share"), "Share"),
        "qos": parse_list(row.get("QOS")),
        "default_qos": (row.get("DefaultQOS") or "").lower() or None,
        "limits": read_limits(row, ASSOCIATION_LIMITS),
    }


def wanted_association(spec: dict, field: str) -> dict:
    """The association settings the user asked for (only those given), checked and normalised."""
    wanted: dict[str, Any] = {}
    if spec.get("fairshare") is not None:
        wanted["fairshare"] = parse_fairshare(spec["fairshare"], f"{field}.fairshare")
    if spec.get("qos") is not None:
        check_names(spec["qos"], f"{field}.qos")
        wanted["qos"] = parse_list(spec["qos"])
        if not wanted["qos"]:
            raise SlurmError(f"{field}.qos: give at least one QOS name (leave it out to inherit the parent's)")
    if spec.get("default_qos") is not None:
        wanted["default_qos"] = check_name(spec["default_qos"], f"{field}.default_qos").lower()
        allowed = wanted.get("qos")
        if allowed is not None and wanted["default_qos"] not in allowed:
            raise SlurmError(f"{field}.default_qos: '{wanted['default_qos']}' is not in {field}.qos {allowed}")
    wanted["limits"] = parse_limits(spec.get("limits"), ASSOCIATION_LIMITS, f"{field}.limits")
    return wanted


def association_settings(wanted: dict, current: dict) -> list[str]:
    """sacctmgr `Key=value` settings that turn the current association into the wanted one."""
    settings = []
    if "fairshare" in wanted and wanted["fairshare"] != current["fairshare"]:
        settings.append(f"Fairshare={wanted['fairshare']}")
    if "qos" in wanted and wanted["qos"] != current["qos"]:
        settings.append("QOS=" + ",".join(wanted["qos"]))
    if "default_qos" in wanted and wanted["default_qos"] != current["default_qos"]:
        settings.append(f"DefaultQOS={wanted['default_qos']}")
    return settings + limit_settings(wanted.get("limits", {}), current["limits"], ASSOCIATION_LIMITS)


def merge_association(current: dict, wanted: dict) -> dict:
    """The association as it will be once the wanted settings are applied (for the diff)."""
    merged = {**current, **{key: value for key, value in wanted.items() if key != "limits"}}
    merged["limits"] = compact_limits({**current["limits"], **wanted.get("limits", {})})
    return merged


def new_association() -> dict:
    """The settings of an association that does not exist yet, before the wanted ones are applied."""
    return {"fairshare": 1, "qos": [], "default_qos": None, "limits": {}}


def names_missing(runner: SlurmRunner, entity: str, names: set[str]) -> list[str]:
    """The names among `names` that sacctmgr does not know as `entity` (account, qos, cluster)."""
    if not names:
        return []
    field = {"account": "Account", "qos": "Name", "cluster": "Cluster"}[entity]
    known = {row[field].lower() for row in runner.sacctmgr_show(entity, [field])}
    return sorted(names - known)


# --- nodes ----------------------------------------------------------------------------------------------------
_REASON_STAMP = re.compile(r"\s*\[[^\]]*@[^\]]*\]\s*$")


def node_state(record: dict[str, str]) -> dict[str, Any]:
    """A node's state from its `scontrol -o show node` record.

    `State=MIXED+DRAIN` is base MIXED with the flag DRAIN; `IDLE*` is not responding. `drain` is 'drained' when
    no job is left on a draining node, 'draining' while jobs still run, and None when the node is not draining.
    """
    state = record.get("State", "")
    not_responding = "*" in state
    base, *flags = state.replace("*", "").split("+")
    flags = [flag for flag in flags if flag]
    drain = None
    if "DRAIN" in flags or base in ("DRAINED", "DRAINING"):
        drain = (
            "draining"
            if base in ("ALLOCATED", "MIXED", "COMPLETING", "DRAINING") or "COMPLETING" in flags
            else "drained"
        )
    return {
        "state": state,
        "base": base,
        "flags": flags,
        "drain": drain,
        "down": base == "DOWN",
        "responding": not not_responding and "NOT_RESPONDING" not in flags,
        "reason": _REASON_STAMP.sub("", null_to_empty(record.get("Reason"))),
    }
