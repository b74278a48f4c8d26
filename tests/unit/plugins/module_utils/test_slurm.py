"""The Slurm modules' shared runner and value normalisation (plugins/module_utils/_slurm.py).

Where Slurm's own output matters, the tests use the recordings of real Slurm 22.05 and 24.11 clusters in
../modules/fixtures (see tools/capture_slurm_fixtures.py); the few outputs made up here say so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible_collections.hpcstack.cluster.plugins.module_utils._slurm import (
    ASSOCIATION_FIELDS,
    ASSOCIATION_LIMITS,
    QOS_LIMITS,
    SlurmError,
    SlurmRunner,
    check_hostlist,
    check_name,
    check_names,
    check_params,
    check_text,
    format_tres,
    limit_settings,
    names_missing,
    parse_duration,
    parse_fairshare,
    parse_int,
    parse_list,
    parse_scontrol_record,
    parse_tres,
    read_association,
    read_limits,
    wanted_association,
)

RELEASES = {"22.05": "22.05.8", "24.11": "24.11.5"}  # of the recorded clusters
FIXTURES = Path(__file__).resolve().parents[1] / "modules" / "fixtures"
QOS_FIELDS = ["Name", "Description", "Priority", "Preempt", "PreemptMode", "Flags", "UsageFactor", "GraceTime"]
QOS_FIELDS += [show for _set, show, _kind in QOS_LIMITS.values()]
ACCOUNT_FIELDS = ["Account", "Description", "Organization", "Cluster", "ParentName", "User", "Partition"]
ACCOUNT_FIELDS += ASSOCIATION_FIELDS


def recorded(version: str, name: str) -> dict:
    """One recording of one Slurm version (for the tests about a single version's answer)."""
    return json.loads((FIXTURES / f"slurm-{version}" / f"{name}.json").read_text())


class FakeModule:
    """What SlurmRunner uses of AnsibleModule; run_command answers from recordings and sees the raw argv."""

    def __init__(self, commands=None, check_mode: bool = False, binaries: tuple[str, ...] = ("timeout", "sacctmgr")):
        self.commands = commands
        self.check_mode = check_mode
        self.binaries = binaries
        self.raw_calls: list[tuple[list[str], dict]] = []

    def get_bin_path(self, name: str):
        return f"/usr/bin/{name}" if name in self.binaries or name == "scontrol" else None

    def run_command(self, args, environ_update=None):
        self.raw_calls.append((list(args), environ_update))
        if self.commands is None:
            pytest.fail(f"unexpected command {args}", pytrace=False)
        return self.commands(args, environ_update=environ_update)


class Answer:
    """A made-up answer to every command (for what no real cluster could be made to say on demand)."""

    def __init__(self, rc: int, stdout: str = "", stderr: str = ""):
        self.answer = (rc, stdout, stderr)

    def __call__(self, _args, environ_update=None):
        return self.answer


# --- durations -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "minutes"),
    [
        ("90", 90),
        (90, 90),
        ("0", 0),
        ("5:30", 6),  # M:S, seconds round up to the next minute
        ("5:00", 5),
        ("0:01", 1),
        ("1:30:00", 90),  # H:M:S
        ("01:00:00", 60),  # as sacctmgr shows MaxWall
        ("1:00:01", 61),
        ("2-12", 3600),  # D-H
        ("2-12:30", 3630),  # D-H:M
        ("2-12:30:00", 3630),  # D-H:M:S
        ("1-00:00:00", 1440),
        (" 3-00:00:00 ", 4320),
    ],
)
def test_parse_duration_takes_every_slurm_form(value, minutes):
    assert parse_duration(value, "max_wall") == minutes


@pytest.mark.parametrize("value", [None, "", "-1", -1, -5, "unlimited", "UNLIMITED", "Infinite", "none", " unlimited "])
def test_parse_duration_unlimited_is_none(value):
    assert parse_duration(value, "max_wall") is None


@pytest.mark.parametrize("value", ["1:xx", "abc", "1-", "2-", "1:2:3:4", "1.5", "2-12:30:00:00", "1d", "1h", ":30"])
def test_parse_duration_rejects_what_slurm_would_not_take(value):
    with pytest.raises(SlurmError) as caught:
        parse_duration(value, "limits.max_wall")
    assert caught.value.msg == f"limits.max_wall: '{value}' is not a Slurm duration (minutes, [D-]HH:MM:SS or D-HH)"


# --- TRES ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "tres"),
    [
        ("cpu=4,mem=1G", {"cpu": 4, "mem": 1024}),
        ("mem=1024M", {"mem": 1024}),
        ("mem=1024", {"mem": 1024}),  # no unit: MiB, as Slurm
        ("mem=2048K", {"mem": 2}),
        ("mem=1T", {"mem": 1024 * 1024}),
        ("mem=1P", {"mem": 1024**3}),
        ("Mem=2g, CPU=8", {"cpu": 8, "mem": 2048}),
        ("gres/gpu=2", {"gres/gpu": 2}),
        ("gres/gpu:a100=2,node=1", {"gres/gpu:a100": 2, "node": 1}),
        ("cpu=8,mem=-1", {"cpu": 8}),  # name=-1 clears that item
        ({"cpu": 4, "mem": "2G", "gres/gpu": 1}, {"cpu": 4, "mem": 2048, "gres/gpu": 1}),
    ],
)
def test_parse_tres(value, tres):
    assert parse_tres(value, "grp_tres") == tres


def test_parse_tres_1024m_is_1g():
    assert parse_tres("mem=1024M", "f") == parse_tres("mem=1G", "f") == parse_tres("mem=1048576K", "f")


@pytest.mark.parametrize("value", [None, "", -1, "-1", "unlimited", "NONE"])
def test_parse_tres_unlimited_is_empty(value):
    assert parse_tres(value, "grp_tres") == {}


@pytest.mark.parametrize("item", ["cpu=x", "cpu", "=4", "cpu=4;mem=1G", "4=cpu", "cpu=4.5", "mem=1Q", "gpu/=1"])
def test_parse_tres_rejects_bad_items(item):
    with pytest.raises(SlurmError) as caught:
        parse_tres(f"node=1,{item}", "limits.grp_tres")
    assert caught.value.msg == (
        f"limits.grp_tres: '{item}' is not a TRES item (name=count, e.g. cpu=4, mem=8G, gres/gpu=2)"
    )


@pytest.mark.parametrize("item", ["cpu=4G", "gres/gpu=2M", "node=1k"])
def test_parse_tres_rejects_a_size_unit_on_anything_but_mem(item):
    with pytest.raises(SlurmError, match=r"has a size unit, which only mem takes$") as caught:
        parse_tres(item, "limits.grp_tres")
    assert caught.value.msg.startswith(f"limits.grp_tres: '{item}' ")


@pytest.mark.parametrize(
    ("wanted", "current", "text"),
    [
        ({}, {"cpu": 8, "mem": 2048}, "cpu=-1,mem=-1"),  # clearing: every current item -1
        ({"cpu": 8}, {"cpu": 4, "mem": 1024}, "cpu=8,mem=-1"),  # a TRES limit replaces the whole list
        ({"mem": 1024, "cpu": 4}, {}, "cpu=4,mem=1024"),
        ({"gres/gpu": 2}, {"gres/gpu": 1, "cpu": 2}, "cpu=-1,gres/gpu=2"),
    ],
)
def test_format_tres(wanted, current, text):
    assert format_tres(wanted, current) == text
    assert parse_tres(text, "f") == wanted


def test_limit_settings_write_only_what_differs():
    current = {"grp_tres": {"cpu": 8, "mem": 2048}, "max_wall": 3630, "max_jobs": 5}
    wanted = {"grp_tres": {}, "max_wall": 3630, "max_jobs": None, "grp_jobs": None}
    assert limit_settings(wanted, current, ASSOCIATION_LIMITS) == ["GrpTRES=cpu=-1,mem=-1", "MaxJobs=-1"]
    assert limit_settings({"max_wall": 60, "grp_tres": {}}, {}, QOS_LIMITS) == ["MaxWall=60"]


# --- small values --------------------------------------------------------------------------------------------
def test_parse_int_and_fairshare():
    assert parse_int("10", "f") == 10
    assert parse_int("unlimited", "f") is None
    assert parse_int(-1, "f") is None
    with pytest.raises(SlurmError, match=r"^max_jobs: 'ten' is not an integer$"):
        parse_int("ten", "max_jobs")
    assert parse_fairshare("Parent", "f") == "parent"
    assert parse_fairshare("100", "f") == 100
    with pytest.raises(SlurmError, match=r"is not a number of shares or 'parent'$"):
        parse_fairshare(-1, "fairshare")


def test_parse_list_is_sorted_lower_case_and_drops_null():
    assert parse_list("normal,FXshort,(null),,normal") == ["fxshort", "normal"]
    assert parse_list(["B", "a"], lower=False) == ["B", "a"]
    assert parse_list(None) == []


# --- scontrol's one-line records -----------------------------------------------------------------------------
def test_parse_scontrol_record_of_a_real_node_line(slurm):
    lines = slurm.recording("scontrol_show_node")["stdout"].splitlines()
    records = [parse_scontrol_record(line) for line in lines]
    assert len(records) == 2
    record = records[0]
    assert record["Version"] == RELEASES[slurm.version]
    assert record["OS"] == "Linux 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0"  # spaces, '#', '@' and two blanks after
    assert record["RealMemory"] == "24105"
    assert record["CfgTRES"] == "cpu=2,mem=24105M,billing=2"  # '=' inside a value is not a new key
    assert record["AllocTRES"] == ""
    assert record["Partitions"] == "batch"
    assert record["AvailableFeatures"] == "(null)"
    assert record["NodeName"] == record["NodeHostName"]
    assert "cpu" not in record
    assert "mem" not in record
    assert "Linux" not in record
    # every Key= that starts a blank-separated word, in order; nothing from inside OS or CfgTRES
    assert list(record) == [word.split("=", 1)[0] for word in lines[0].split() if "=" in word]


def test_parse_scontrol_record_keeps_a_reason_with_spaces(slurm):
    # Made up from the real node line: no node of the shared test clusters may be drained to record a Reason.
    line = slurm.recording("scontrol_show_node")["stdout"].splitlines()[0].rstrip()
    reason = "disk swap [root@2026-11-23T08:40:00]"
    record = parse_scontrol_record(f"{line} Reason={reason}")
    assert record["Reason"] == reason
    first, rest = line.split(" ", 1)
    record = parse_scontrol_record(f"{first} Reason={reason} {rest}")
    assert record["Reason"] == reason
    assert record["NodeName"] == first.split("=", 1)[1]


# --- the runner against real recordings ----------------------------------------------------------------------
def test_runner_prefixes_timeout_and_runs_under_lc_all_c(slurm):
    module = FakeModule(slurm.commands("scontrol_version"))
    assert SlurmRunner(module, timeout=30).version() == {"22.05": (22, 5, 8), "24.11": (24, 11, 5)}[slurm.version]
    args, environment = module.raw_calls[0]
    assert args == ["/usr/bin/timeout", "30", "/usr/bin/scontrol", "--version"]
    assert environment == {"LC_ALL": "C", "LANG": "C", "SLURM_TIME_FORMAT": "standard"}


def test_runner_without_timeout_runs_the_tool_directly(slurm):
    module = FakeModule(slurm.commands("scontrol_version"), binaries=("sacctmgr",))
    SlurmRunner(module).version()
    assert module.raw_calls[0][0] == ["/usr/bin/scontrol", "--version"]


def test_runner_fails_clearly_without_the_tool():
    runner = SlurmRunner(FakeModule(binaries=("timeout",)))
    with pytest.raises(SlurmError, match=r"^sacctmgr was not found: run this module on a host with Slurm"):
        runner.sacctmgr_show("qos", ["Name"])


def test_scontrol_show_reads_every_node(slurm):
    nodes = SlurmRunner(FakeModule(slurm.commands("scontrol_show_node"))).scontrol_show("node")
    assert [node["State"] for node in nodes] == ["IDLE", "IDLE"]


def test_sacctmgr_show_reads_a_real_qos_row(slurm):
    runner = SlurmRunner(FakeModule(slurm.commands("qos_present")))
    rows = runner.sacctmgr_show("qos", QOS_FIELDS, where=["name=fxshort"])
    assert len(rows) == 1
    row = rows[0]
    assert (row["Name"], row["Priority"], row["Preempt"], row["MaxTRESPU"], row["MaxWall"]) == (
        "fxshort",
        "10",
        "fxlong",
        "cpu=4,mem=1G",
        "01:00:00",
    )
    assert row["GraceTime"] == "00:00:00"
    assert read_limits(row, QOS_LIMITS) == {"max_tres_per_user": {"cpu": 4, "mem": 1024}, "max_wall": 60}


def test_read_association_of_a_real_account_row(slurm):
    runner = SlurmRunner(FakeModule(slurm.commands("account_present")))
    options = ["withassoc", "WOPLimits"]
    (row,) = runner.sacctmgr_show("account", ACCOUNT_FIELDS, where=["name=fxphys"], options=options)
    assert (row["Description"], row["Organization"], row["Cluster"]) == ("physics dept", "science", slurm.cluster)
    assert row["MaxWall"] == "2-12:30:00"
    assert row["GrpTRES"] == "cpu=8,mem=2G"
    assert read_association(row) == {
        "fairshare": 100,
        "qos": ["fxshort", "normal"],
        "default_qos": "normal",
        "limits": {"grp_tres": {"cpu": 8, "mem": 2048}, "max_wall": 3630},
    }


def test_names_missing_reads_the_names_once(slurm):
    module = FakeModule(slurm.commands("qos_list"))
    runner = SlurmRunner(module)
    assert names_missing(runner, "qos", {"fxlong", "normal", "fxnope", "fxshort"}) == ["fxnope"]
    assert names_missing(runner, "qos", set()) == []
    assert len(module.raw_calls) == 1


def test_check_mode_records_a_write_without_running_it():
    module = FakeModule(check_mode=True)
    runner = SlurmRunner(module)
    runner.sacctmgr_change(["add", "qos", "fxshort", "Description=a b"], "add QOS fxshort")
    assert runner.commands == ["sacctmgr -i add qos fxshort 'Description=a b'"]
    assert module.raw_calls == []


@pytest.mark.parametrize(
    "name",
    [
        "qos_add_existing",  # " Nothing new added."
        "account_add_existing",  # 22.05: " Nothing new added.", 24.11: " Already existing account fxphys on ..."
        "qos_delete_absent",  # " Nothing deleted"
    ],
)
def test_writes_that_changed_nothing_are_not_errors(slurm, name):
    recording = slurm.recording(name)
    assert recording["rc"] == 1
    runner = SlurmRunner(FakeModule(slurm.commands(name)))
    runner.sacctmgr_change(recording["argv"][2:], "change")
    assert runner.commands == [" ".join(recording["argv"])]


def test_adding_a_user_association_that_exists_is_not_an_error(slurm):
    # 22.05: " Nothing new added.", 24.11: "Request didn't affect anything / Nothing added. / Make sure ..."
    recording = slurm.recording("user_add_nothing_new")
    assert recording["rc"] == 1
    runner = SlurmRunner(FakeModule(slurm.commands("user_add_nothing_new")))
    runner.sacctmgr_change(recording["argv"][2:], "add")
    assert runner.commands == [" ".join(recording["argv"])]
    assert runner.said == []


def test_adding_a_cluster_that_exists_is_not_an_error(slurm):
    # both versions: " This cluster fxcluster already exists.  Not adding." and exit 1
    recording = slurm.recording("cluster_add_existing")
    assert recording["rc"] == 1
    assert "already exists" in recording["stdout"]
    SlurmRunner(FakeModule(slurm.commands("cluster_add_existing"))).sacctmgr_change(
        ["add", "cluster", "fxcluster"], "add cluster fxcluster"
    )


@pytest.mark.parametrize(
    ("name", "what", "slurm_says"),
    [
        ("qos_set_unknown_flag", "modify QOS fxshort", "Unknown QOS flag used in:; 'nosuchflag'; Valid QOS flags are"),
        ("cluster_add_denied", "add cluster fxcluster", "Problem adding clusters: Access/permission denied"),
    ],
)
def test_a_failed_write_raises_with_slurms_own_words(slurm, name, what, slurm_says):
    recording = slurm.recording(name)
    runner = SlurmRunner(FakeModule(slurm.commands(name)))
    with pytest.raises(SlurmError) as caught:
        runner.sacctmgr_change(recording["argv"][2:], what)
    error = caught.value
    assert error.msg.startswith(f"Failed to {what}: ")
    assert slurm_says in error.msg
    assert "\n" not in error.msg
    assert (error.rc, error.stdout, error.stderr) == (1, recording["stdout"], recording["stderr"])
    assert error.cmd == " ".join(recording["argv"])
    assert runner.commands == [error.cmd]


def test_a_user_of_an_unknown_account_is_an_error(slurm):
    # 22.05 prints " Nothing new added." on stdout next to "This account 'fxnope' doesn't exist." on stderr, 24.11
    # "No account fxnope on cluster debian13, skipping." before "Nothing added."
    recording = slurm.recording("user_add_unknown_account")
    runner = SlurmRunner(FakeModule(slurm.commands("user_add_unknown_account")))
    with pytest.raises(SlurmError, match="fxnope"):
        runner.sacctmgr_change(recording["argv"][2:], "add users")


def test_a_refused_default_qos_exits_0_on_22_05_and_1_on_24_11(slurm):
    # why the modules read the state back instead of trusting sacctmgr's exit code
    recording = slurm.recording("account_default_qos_not_allowed")
    assert "These associations don't have access to their default qos." in recording["stderr"]
    runner = SlurmRunner(FakeModule(slurm.commands("account_default_qos_not_allowed")))
    if slurm.version == "22.05":
        assert recording["rc"] == 0
        runner.sacctmgr_change(recording["argv"][2:], "modify account fxphys")
    else:
        assert recording["rc"] == 1
        with pytest.raises(SlurmError, match="Error with request: This request would make it so some associations"):
            runner.sacctmgr_change(recording["argv"][2:], "modify account fxphys")


def test_a_timeout_is_named():
    runner = SlurmRunner(FakeModule(Answer(124)), timeout=5)
    with pytest.raises(SlurmError) as caught:
        runner.sacctmgr_show("qos", ["Name"])
    assert caught.value.msg == "sacctmgr did not answer within 5 s"
    assert caught.value.cmd == "sacctmgr -nP show qos format=Name"


def test_a_failed_read_names_what_it_read():
    # made up: the shared test clusters' slurmdbd cannot be stopped to record this
    err = "sacctmgr: error: Sending PersistInit msg: Connection refused\n"
    err += "sacctmgr: error: Problem talking to the database\n"
    runner = SlurmRunner(FakeModule(Answer(1, "", err)))
    with pytest.raises(SlurmError) as caught:
        runner.sacctmgr_show("user", ["User"])
    assert caught.value.msg == (
        "Failed to read Slurm user records: sacctmgr: error: Sending PersistInit msg: Connection refused; "
        "sacctmgr: error: Problem talking to the database"
    )


def test_message_is_one_line_without_repeats():
    assert SlurmRunner.message(" a \n\n b\n", "b\nc\n") == "b; c; a"
    assert SlurmRunner.message("", "") == "no output"


def test_verify_fails_with_what_is_still_pending():
    runner = SlurmRunner(FakeModule())
    runner.verify([], "users")
    with pytest.raises(SlurmError) as caught:
        runner.verify(["modify user x", "add user y"], "users")
    assert caught.value.msg == (
        "Slurm did not apply all changes to users: still differing after the run: modify user x, add user y"
    )


def test_verify_quotes_what_slurm_said_on_stderr_of_writes_that_exited_0():
    # 22.05 refuses a default QOS outside the association's QOS on stderr and exits 0 (24.11 exits 1)
    recording = recorded("22.05", "account_default_qos_not_allowed")
    assert recording["rc"] == 0
    runner = SlurmRunner(FakeModule(Answer(0, recording["stdout"], recording["stderr"])))
    runner.sacctmgr_change(recording["argv"][2:], "modify account fxphys")
    assert runner.said == [
        "These associations don't have access to their default qos.; Please give them access before they the "
        "default can be set to this.; DefQOS = fxlong     C = hpc        A = fxphys"
    ]
    with pytest.raises(SlurmError) as caught:
        runner.verify(["modify account x"], "account fxphys")
    assert caught.value.msg == (
        "Slurm did not apply all changes to account fxphys: still differing after the run: modify account x "
        f"(Slurm said: {runner.said[0]})"
    )


def test_verify_joins_what_several_writes_said():
    runner = SlurmRunner(FakeModule(Answer(0, "done\n", " first\n second\n")))  # made up
    runner.sacctmgr_change(["modify", "qos", "where", "name=a", "set", "Priority=1"], "modify QOS a")
    runner.sacctmgr_change(["modify", "qos", "where", "name=b", "set", "Priority=1"], "modify QOS b")
    with pytest.raises(SlurmError, match=r" \(Slurm said: first; second; first; second\)$"):
        runner.verify(["x"], "QOS")


def test_a_write_that_exited_0_without_stderr_leaves_nothing_said(slurm):
    recording = slurm.recording("qos_add")
    assert (recording["rc"], recording["stderr"]) == (0, "")
    runner = SlurmRunner(FakeModule(slurm.commands("qos_add")))
    runner.sacctmgr_change(recording["argv"][2:], "add QOS fxshort")
    assert runner.said == []
    with pytest.raises(SlurmError) as caught:
        runner.verify(["x"], "QOS fxshort")
    assert "Slurm said" not in caught.value.msg


def test_check_mode_says_nothing():
    runner = SlurmRunner(FakeModule(check_mode=True))
    runner.sacctmgr_change(["add", "qos", "fxshort"], "add QOS fxshort")
    assert runner.said == []


# --- what counts as a write that changed nothing ---------------------------------------------------------------
def test_22_05_nothing_new_added_next_to_doesnt_exist_is_an_error():
    # the real 22.05 answer to adding a user to an unknown account (fixture user_add_unknown_account)
    recording = recorded("22.05", "user_add_unknown_account")
    assert "Nothing new added" in recording["stdout"]
    assert "doesn't exist" in recording["stderr"]
    runner = SlurmRunner(FakeModule(Answer(recording["rc"], recording["stdout"], recording["stderr"])))
    with pytest.raises(SlurmError) as caught:
        runner.sacctmgr_change(recording["argv"][2:], "add users")
    assert caught.value.msg == (
        "Failed to add users: This account 'fxnope' doesn't exist.; Contact your admin to add this account.; "
        "Nothing new added."
    )
    assert caught.value.rc == 1


def test_24_11_request_didnt_affect_anything_alone_is_not_an_error():
    # the real 24.11 answer to adding a user association that exists (fixture user_add_nothing_new)
    recording = recorded("24.11", "user_add_nothing_new")
    assert recording["stdout"].startswith("Request didn't affect anything\n")
    assert "Nothing new added" not in recording["stdout"]
    runner = SlurmRunner(FakeModule(Answer(recording["rc"], recording["stdout"], recording["stderr"])))
    runner.sacctmgr_change(recording["argv"][2:], "add users")
    assert runner.commands == [" ".join(recording["argv"])]


@pytest.mark.parametrize(
    ("stdout", "stderr", "error"),
    [
        # made up around the real phrases: each error phrase turns a "nothing done" answer into an error
        ("Request didn't affect anything\n", "", False),
        (" Nothing new added.\n", "", False),
        (" Nothing modified\n", "", False),
        (" Nothing deleted\n", "", False),
        (" Already existing account a on cluster c\n", "", False),
        (" This cluster c already exists.  Not adding.\n", "", False),
        (" Nothing new added.\n", " This account 'a' doesn't exist.\n", True),
        ("Request didn't affect anything\n", "sacctmgr: error: Problem talking to the database\n", True),
        ("No account a on cluster c, skipping.\nRequest didn't affect anything\n", "", True),
        (" Nothing modified\n", " Invalid value\n", True),
        (" Nothing modified\n", " Unknown option: x\n", True),
        (" Nothing new added.\n", " bad format\n", True),
        (" Problem adding clusters: Access/permission denied\n", "", True),  # no "nothing done" phrase
        ("", "", True),
    ],
)
def test_a_failed_write_is_a_no_op_only_without_an_error_phrase(stdout, stderr, error):
    runner = SlurmRunner(FakeModule(Answer(1, stdout, stderr)))
    if error:
        with pytest.raises(SlurmError, match=r"^Failed to add: "):
            runner.sacctmgr_change(["add", "user", "name=a"], "add")
    else:
        runner.sacctmgr_change(["add", "user", "name=a"], "add")


# --- input checks --------------------------------------------------------------------------------------------
NAME_RULE = "is not a valid Slurm name (letters, digits, '_', '-', '.', '@')"


@pytest.mark.parametrize("name", ["alice", "first.last", "ab-12", "svc_backup", "Physics", "a", "hpc2", "ALL", "0"])
def test_check_name_takes_slurms_names(name):
    assert check_name(name, "name") == name


@pytest.mark.parametrize(
    "name",
    [
        "carol,root",
        "a=b",
        "a b",
        " alice",
        "alice\n",
        "tab\there",
        "o'brien",
        'say"hi',
        "",
        "a|b",
        "node[01-02]",
        "\u00e4",
    ],
)
def test_check_name_refuses_what_would_split_a_slurm_argument(name):
    with pytest.raises(SlurmError) as caught:
        check_name(name, "users[2].name")
    assert caught.value.msg == f"users[2].name: {name!r} {NAME_RULE}"
    assert "\n" not in caught.value.msg


def test_check_name_of_none_and_numbers():
    assert check_name(42, "n") == "42"
    with pytest.raises(SlurmError, match=r"^n: '' is not a valid Slurm name"):
        check_name(None, "n")


def test_check_names_takes_lists_and_comma_strings_as_parse_list_does():
    assert check_names(["b", " a ", ""], "qos") == ["a", "b"]
    assert check_names("normal, Short", "qos") == ["Short", "normal"]
    with pytest.raises(SlurmError, match=rf"^qos: 'fx short' {re.escape(NAME_RULE)}$"):
        check_names(["normal", "fx short"], "qos")


@pytest.mark.parametrize(
    "hostlist",
    [
        "compute01",
        "compute[01-16]",
        "a,b",
        "compute[01-04,07],gpu[1-2]",
        "rack[1-2]-node[01-04]",
        "hpc-c1.local",
        "ALL",
    ],
)
def test_check_hostlist_takes_hostlist_expressions(hostlist):
    assert check_hostlist(hostlist, "nodes") == hostlist


@pytest.mark.parametrize("hostlist", ["", "a b", "a=b", "a,,b", ",a", "a,", "c[01-02", "c[a-b]", "c[]", "a\nb", "a;b"])
def test_check_hostlist_refuses_the_rest(hostlist):
    with pytest.raises(SlurmError) as caught:
        check_hostlist(hostlist, "slurm_node.name")
    assert caught.value.msg == (
        f"slurm_node.name: {hostlist!r} is not a valid Slurm hostlist (names of letters, digits, '_', '-', '.', "
        "ranges such as compute[01-04,07], separated by ',')"
    )


def test_check_text_refuses_line_breaks_and_the_characters_given():
    assert check_text("disk swap, ticket=1234", "reason") == "disk swap, ticket=1234"
    assert check_text("Bob's lab", "reason") == "Bob's lab"
    with pytest.raises(SlurmError, match=r"^reason: 'a\\nb' must be one line without control characters$"):
        check_text("a\nb", "reason")
    with pytest.raises(SlurmError, match=r"^description: \"Bob's lab\" must be one line .* or any of ' \" \|$"):
        check_text("Bob's lab", "description", "'\"|")


def test_check_params_names_the_option_and_skips_what_was_left_out():
    params = {"name": "fxphys", "parent": None, "qos": None, "nodes": None, "description": None, "timeout": 60}
    check_params(
        params, "m", names=("name", "parent"), name_lists=("qos",), hostlists=("nodes",), texts=("description",)
    )
    checks = {"names": ("name",), "name_lists": ("qos",), "hostlists": ("nodes",), "texts": ("description",)}
    bad = {"name": "a,b", "qos": ["ok", "a b"], "nodes": "n=1", "description": "a|b"}
    for group, keys in checks.items():
        with pytest.raises(SlurmError, match=rf"^m\.{keys[0]}: "):
            check_params({**params, keys[0]: bad[keys[0]]}, "m", **{group: keys})


@pytest.mark.parametrize("timeout", [0, -1])
def test_check_params_wants_a_positive_timeout(timeout):
    with pytest.raises(SlurmError) as caught:
        check_params({"timeout": timeout}, "slurm_qos")
    assert caught.value.msg == f"slurm_qos.timeout: must be a positive number of seconds, got {timeout}"


def test_check_params_minimums():
    check_params({"batch_size": 1, "timeout": 1}, "m", minimums={"batch_size": (1, "at least 1")})
    with pytest.raises(SlurmError, match=r"^m\.batch_size: must be at least 1, got 0$"):
        check_params({"batch_size": 0, "timeout": 1}, "m", minimums={"batch_size": (1, "at least 1")})


def test_wanted_association_checks_qos_names():
    assert wanted_association({"qos": "Normal, short", "default_qos": "short"}, "a")["qos"] == ["normal", "short"]
    with pytest.raises(SlurmError, match=rf"^a\.qos: 'normal,root' {re.escape(NAME_RULE)}$"):
        wanted_association({"qos": ["short", "normal,root"]}, "a")
    with pytest.raises(SlurmError, match=rf"^a\.default_qos: 'short normal' {re.escape(NAME_RULE)}$"):
        wanted_association({"default_qos": "short normal"}, "a")
