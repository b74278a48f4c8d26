"""The slurm_controller role writes the munge key to SSM Parameter Store for ec2 node groups (tasks/power_ssm_key.yml).

Each test runs ansible-playbook (this virtual environment's) against localhost: a play that computes the Slurm model
(the slurm_common role, which checks every node group) and includes the role's tasks_from power_ssm_key with a
munge key file of the test, the node group's ec2.endpoint_url pointing at the session's moto server on 127.0.0.1
(conftest.py). The parameter is then read back with boto3 as the instances' user data reads it: decrypted, base64
decoded. Run: pytest -p no:cacheprovider tests/integration/test_power_ssm_key.py
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

# conftest.py is not imported (it is no package member); its fixtures come by name.
REGION = "eu-west-1"
CLUSTER = "itest"
PARAMETER = "/itest/munge-key"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
RECAP = re.compile(r"^localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)

INVENTORY = """\
all:
  children:
    slurm_controller:
      hosts:
        localhost:
          ansible_connection: local
          ansible_python_interpreter: "{{ ansible_playbook_python }}"
    slurm_compute:
      hosts:
        c01:
          slurm_node: {CPUs: 2, RealMemory: 1000}
"""
# The role's real tasks: the model as every Slurm role computes it, then the entry point power_save.yml includes.
PLAYBOOK = """\
- name: Store the munge key for the ec2 node groups
  hosts: slurm_controller
  gather_facts: false
  tasks:
    - name: Compute and check the Slurm model
      ansible.builtin.import_role:
        name: hpcstack.cluster.slurm_common
    - name: Write the munge key to SSM Parameter Store
      ansible.builtin.include_role:
        name: hpcstack.cluster.slurm_controller
        tasks_from: power_ssm_key
      vars:
        _slurm_controller_munge_key_file: "{{ itest_munge_key_file }}"
"""


def ec2_group(endpoint_url: str, parameter: str = PARAMETER, name: str = "burst") -> dict[str, Any]:
    return {
        "name": name,
        "nodes": f"{name}[01-04]",
        "cpus": 2,
        "memory": 4000,
        "provider": "ec2",
        "ec2": {
            "region": REGION,
            "image_id": "ami-0123456789abcdef0",
            "instance_type": "c6i.large",
            "subnet_id": "subnet-0123456789abcdef0",
            "security_group_ids": ["sg-0123456789abcdef0"],
            "instance_profile": "hpc-compute",
            "munge_key_parameter": parameter,
            "conf_server": "10.0.1.10:6817",
            "endpoint_url": endpoint_url,
        },
    }


class PlaybookRun:
    """One ansible-playbook run: exit code, stdout and stderr together, and the PLAY RECAP's changed and failed."""

    def __init__(self, process: Any) -> None:
        self.rc = process.returncode
        self.output = process.stdout + process.stderr
        match = RECAP.search(process.stdout)
        self.changed = int(match.group(2)) if match else None
        self.failed = int(match.group(4)) if match else None

    def __repr__(self) -> str:
        return f"PlaybookRun(rc={self.rc}, changed={self.changed}, failed={self.failed})\n{self.output[-8000:]}"


@pytest.fixture
def ssm(moto: Any) -> Any:
    """A boto3 SSM client on the emptied moto server."""
    return boto3.client("ssm", endpoint_url=moto.url, region_name=REGION)


@pytest.fixture
def run_play(ansible: Any, tmp_path: Path) -> Any:
    """Return a function running the play with a munge key file holding `key` and slurm_cloud_nodes `groups`."""
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    (tmp_path / "playbook.yml").write_text(PLAYBOOK)
    key_file = tmp_path / "munge.key"

    def run(key: bytes, groups: list[dict[str, Any]], *options: str, **extra: Any) -> PlaybookRun:
        key_file.write_bytes(key)
        key_file.chmod(0o400)
        variables = {
            "slurm_cluster_name": CLUSTER,
            "slurm_cloud_nodes": groups,
            "itest_munge_key_file": str(key_file),
            **extra,
        }
        vars_file = tmp_path / f"vars-{time.monotonic_ns()}.json"
        vars_file.write_text(json.dumps(variables))
        process = ansible(
            ANSIBLE_PLAYBOOK, "-i", str(tmp_path / "inventory.yml"), str(tmp_path / "playbook.yml"),
            "-e", f"@{vars_file}", *options,
        )  # fmt: skip
        key_file.chmod(0o600)
        return PlaybookRun(process)

    return run


def new_key() -> bytes:
    """A munge key of printable random bytes, so that the bytes themselves would show in the output if they leaked
    (as 64 bytes of `mungekey` output would not)."""
    return secrets.token_urlsafe(64).encode()


def assert_secret_absent(run: PlaybookRun, key: bytes) -> None:
    """Neither the key's bytes nor its base64 (padded or not, in lines of 76 as `base64` wraps) are in the output."""
    encoded = base64.b64encode(key).decode()
    for secret in (key.decode(), encoded, encoded.rstrip("="), base64.encodebytes(key).decode().splitlines()[0]):
        assert secret not in run.output, f"the munge key leaked into the output of {run!r}"


def stored(ssm: Any, name: str = PARAMETER) -> dict[str, Any]:
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]


def test_the_key_is_stored_as_the_user_data_reads_it_idempotently_and_follows_a_new_key(
    ssm: Any, moto: Any, run_play: Any
) -> None:
    key = new_key()
    first = run_play(key, [ec2_group(moto.url)], "-v", "--diff")
    assert first.rc == 0, first
    assert first.changed == 1, first
    assert_secret_absent(first, key)
    parameter = stored(ssm)
    assert parameter["Type"] == "SecureString"
    # The instances' user data: aws ssm get-parameter --with-decryption ... | base64 --decode > /etc/munge/munge.key
    assert base64.b64decode(parameter["Value"], validate=True) == key
    assert "\n" not in parameter["Value"]
    assert parameter["Version"] == 1
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [PARAMETER]}])["Parameters"]
    assert described[0]["KeyId"] == "alias/aws/ssm"
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=PARAMETER)["TagList"]
    assert {tag["Key"]: tag["Value"] for tag in tags} == {
        "org.hpcstack.owner": "hpcstack",
        "org.hpcstack.cluster": CLUSTER,
    }

    # The same key: nothing changes (the module compares the decrypted value), even at -vvv.
    second = run_play(key, [ec2_group(moto.url)], "-vvv", "--diff")
    assert second.rc == 0, second
    assert second.changed == 0, second
    assert_secret_absent(second, key)
    assert stored(ssm)["Version"] == 1

    # A new cluster key replaces the parameter's value, once.
    rotated = new_key()
    third = run_play(rotated, [ec2_group(moto.url)], "-v", "--diff")
    assert third.rc == 0, third
    assert third.changed == 1, third
    assert_secret_absent(third, rotated)
    assert_secret_absent(third, key)
    parameter = stored(ssm)
    assert base64.b64decode(parameter["Value"]) == rotated
    assert parameter["Version"] == 2
    fourth = run_play(rotated, [ec2_group(moto.url)], "-v", "--diff")
    assert (fourth.rc, fourth.changed) == (0, 0), fourth


def test_each_ec2_group_gets_its_parameter_and_check_mode_writes_nothing(ssm: Any, moto: Any, run_play: Any) -> None:
    key = new_key()
    groups = [
        ec2_group(moto.url),
        ec2_group(moto.url, "/itest/other/munge-key", "gpu"),
        ec2_group(moto.url, name="big"),
    ]
    preview = run_play(key, groups, "--check", "--diff", "-v")
    assert preview.rc == 0, preview
    assert preview.changed == 1, preview
    assert_secret_absent(preview, key)
    assert ssm.describe_parameters()["Parameters"] == []

    applied = run_play(key, groups, "-v")
    assert applied.rc == 0, applied
    assert applied.changed == 1, applied
    for name in (PARAMETER, "/itest/other/munge-key"):
        assert base64.b64decode(stored(ssm, name)["Value"]) == key
    again = run_play(key, groups, "--check", "--diff")
    assert (again.rc, again.changed) == (0, 0), again


@pytest.mark.parametrize(
    ("parameter", "reason"),
    [
        ("itest/munge-key", "a name in a hierarchy must begin with '/'"),
        ("/aws/munge-key", "may not begin with 'aws' or 'ssm'"),
        ("/itest/munge key; id", "not a valid munge key parameter"),
    ],
)
def test_a_bad_munge_key_parameter_fails_before_anything_is_written_naming_it(
    ssm: Any, moto: Any, run_play: Any, parameter: str, reason: str
) -> None:
    key = new_key()
    run = run_play(key, [ec2_group(moto.url), ec2_group(moto.url, parameter, "gpu")], "-v")
    assert run.rc != 0, run
    assert "slurm_cloud_nodes[1] (gpu).ec2.munge_key_parameter is" in run.output, run
    assert reason in run.output, run
    assert_secret_absent(run, key)
    assert ssm.describe_parameters()["Parameters"] == []  # the good group's parameter neither


def test_the_kms_key_is_checked_before_anything_is_written_and_used(ssm: Any, moto: Any, run_play: Any) -> None:
    key = new_key()
    arn = "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"  # another region
    for value in ("my key", "alias/hpc\n", arn):
        run = run_play(key, [ec2_group(moto.url)], slurm_controller_munge_key_kms_key_id=value)
        assert run.rc != 0, run
        assert "slurm_controller_munge_key_kms_key_id is" in run.output, run
        assert ssm.describe_parameters()["Parameters"] == []
    run = run_play(key, [ec2_group(moto.url)], slurm_controller_munge_key_kms_key_id="alias/itest-munge")
    assert (run.rc, run.changed) == (0, 1), run
    assert ssm.describe_parameters()["Parameters"][0]["KeyId"] == "alias/itest-munge"
    assert base64.b64decode(stored(ssm)["Value"]) == key


def test_an_unreachable_endpoint_fails_naming_the_group_and_parameter_without_the_key(
    moto: Any, run_play: Any, unused_port: int
) -> None:
    key = new_key()
    run = run_play(key, [ec2_group(f"http://127.0.0.1:{unused_port}")], "-v", "--diff")
    assert run.rc != 0, run
    assert run.failed == 1, run
    assert f"slurm_cloud_nodes group burst: the munge key could not be written to the SSM parameter {PARAMETER}" in (
        " ".join(run.output.split())
    ), run
    assert_secret_absent(run, key)


def test_a_missing_munge_key_file_is_named(moto: Any, run_play: Any, tmp_path: Path) -> None:
    run = run_play(new_key(), [ec2_group(moto.url)], itest_munge_key_file=str(tmp_path / "absent.key"))
    assert run.rc != 0, run
    assert "absent.key is not on localhost: run the munge role" in " ".join(run.output.split()), run
