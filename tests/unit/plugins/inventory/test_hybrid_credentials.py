"""Unit tests of the hybrid inventory's AWS credentials: amazon.aws's options, templating, precedence, AssumeRole.

Every boto3 session the plugin makes is recorded with the credentials it resolves to; EC2 and STS answer through
botocore's Stubber. No test reaches AWS: the environment's own AWS settings are cleared first.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import botocore.stub
import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import inventory_loader
from ansible_collections.hpcstack.cluster.plugins.inventory import hybrid

ROLE = "arn:aws:iam::123456789012:role/hpc-inventory-reader"
KEY_ID, SECRET, TOKEN = "AKIAEXAMPLEKEYID0001", "secret/EXAMPLE+key0001xyz", "token-EXAMPLE-0001"
ROLE_KEY_ID, ROLE_SECRET, ROLE_TOKEN = "ASIAROLEKEYID0002", "role/SECRET+key0002xyz", "role-token-0002"
SECRETS = (KEY_ID, SECRET, TOKEN, ROLE_KEY_ID, ROLE_SECRET, ROLE_TOKEN)
AWS_ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
INSTANCE = {
    "InstanceId": "i-0000000000000001",
    "InstanceType": "c5n.18xlarge",
    "VpcId": "vpc-1",
    "PrivateIpAddress": "10.0.1.1",
    "State": {"Code": 16, "Name": "running"},
    "Tags": [{"Key": "Name", "Value": "c01"}, {"Key": "hpc_role", "Value": "slurm_compute"}],
}


class AWS:
    """Records every session the plugin makes (with the credentials it resolves to) and stubs EC2 and STS."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sessions: list[dict] = []
        self.ec2_clients: list[Any] = []
        self.sts_clients: list[Any] = []
        self.stubbers: list[botocore.stub.Stubber] = []
        self.sts_error: tuple[str, str] | None = None
        self.ec2_error: tuple[str, str] | None = None
        self.expected_filters: list[dict] | None = None
        real_session, real_ec2, real_sts = hybrid.aws_session, hybrid.ec2_client, hybrid.sts_client

        def session(region: str | None, profile: str | None, credentials: dict | None) -> Any:
            made = real_session(region, profile, credentials)
            resolved = made.get_credentials()
            frozen = resolved.get_frozen_credentials() if resolved else None
            self.sessions.append({"profile": profile, "credentials": credentials, "resolved": frozen})
            return made

        def ec2(region: str, *args: Any) -> Any:
            client = real_ec2(region, *args)
            stubber = botocore.stub.Stubber(client)
            if self.ec2_error:
                stubber.add_client_error("describe_instances", *self.ec2_error, http_status_code=401)
            else:
                expected = {"Filters": self.expected_filters, "MaxResults": 1000}
                answer = {"Reservations": [{"ReservationId": "r-1", "Instances": [dict(INSTANCE)]}]}
                stubber.add_response("describe_instances", answer, None if self.expected_filters is None else expected)
            stubber.activate()
            self.stubbers.append(stubber)
            self.ec2_clients.append(client)
            return client

        def sts(*args: Any) -> Any:
            client = real_sts(*args)
            stubber = botocore.stub.Stubber(client)
            if self.sts_error:
                stubber.add_client_error("assume_role", *self.sts_error, http_status_code=403)
            else:
                answer = {
                    "Credentials": {
                        "AccessKeyId": ROLE_KEY_ID,
                        "SecretAccessKey": ROLE_SECRET,
                        "SessionToken": ROLE_TOKEN,
                        "Expiration": datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC),
                    },
                    "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:hybrid", "Arn": f"{ROLE}/hybrid"},
                }
                expected = {"RoleArn": ROLE, "RoleSessionName": hybrid.ROLE_SESSION_NAME}
                stubber.add_response("assume_role", answer, expected)
            stubber.activate()
            self.stubbers.append(stubber)
            self.sts_clients.append(client)
            return client

        monkeypatch.setattr(hybrid, "aws_session", session)
        monkeypatch.setattr(hybrid, "ec2_client", ec2)
        monkeypatch.setattr(hybrid, "sts_client", sts)

    @property
    def ec2_credentials(self) -> list[tuple]:
        """The credentials each EC2 client signs with."""
        return [client._request_signer._credentials.get_frozen_credentials() for client in self.ec2_clients]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AWS:
    for name in AWS_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(hybrid, "fetch_containers", lambda *args: [])
    return AWS(monkeypatch)


def build(tmp_path: Path, **options: Any) -> InventoryData:
    config = {"plugin": "hpcstack.cluster.hybrid", "cluster": "hpc1", "regions": ["eu-west-1"], **options}
    path = tmp_path / "cluster.hybrid.yml"
    path.write_text(yaml.safe_dump(config))
    inventory = InventoryData()
    plugin = inventory_loader.get("hpcstack.cluster.hybrid")
    plugin.parse(inventory, DataLoader(), str(path), cache=True)
    if options.get("cache"):
        plugin.update_cache_if_changed()
    return inventory


def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **named: tuple[str, str]) -> None:
    """An AWS credentials file with these profiles (name: (key id, secret))."""
    text = "".join(
        f"[{name}]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        for name, (key, secret) in named.items()
    )
    path = tmp_path / "credentials"
    path.write_text(text)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(path))


def keys(frozen: Any) -> tuple:
    """Access key, secret and token of botocore's frozen credentials (which may carry an account id too)."""
    return (frozen.access_key, frozen.secret_key, frozen.token)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def one_line(failure: pytest.ExceptionInfo) -> str:
    message = str(failure.value).split("Origin:", maxsplit=1)[0].strip()
    assert "\n" not in message
    return message


# --- the options reach the session ----------------------------------------------------------------------------------
def test_access_key_secret_key_and_session_token_reach_the_session(tmp_path, aws) -> None:
    inventory = build(tmp_path, sources=["ec2"], access_key=KEY_ID, secret_key=SECRET, session_token=TOKEN)
    assert "c01" in inventory.hosts
    (session,) = aws.sessions
    assert session["profile"] is None
    assert keys(session["resolved"]) == (KEY_ID, SECRET, TOKEN)
    assert [keys(c) for c in aws.ec2_credentials] == [(KEY_ID, SECRET, TOKEN)]


def test_amazon_aws_alias_names_are_accepted(tmp_path, aws) -> None:
    build(tmp_path, sources=["ec2"], aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, aws_session_token=TOKEN)
    build(tmp_path, sources=["ec2"], aws_access_key=KEY_ID, aws_secret_key=SECRET)
    assert [keys(s["resolved"]) for s in aws.sessions] == [(KEY_ID, SECRET, TOKEN), (KEY_ID, SECRET, None)]


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN}, TOKEN),
        ({"AWS_ACCESS_KEY": KEY_ID, "AWS_SECRET_KEY": SECRET}, None),
        # The standard names win over amazon.aws's older ones.
        (
            {
                "AWS_ACCESS_KEY_ID": KEY_ID,
                "AWS_ACCESS_KEY": "AKIAOLD",
                "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_SECRET_KEY": "old",
            },
            None,
        ),
    ],
)
def test_credentials_from_the_environment(tmp_path, aws, monkeypatch, environment, expected) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    build(tmp_path, sources=["ec2"])
    (session,) = aws.sessions
    assert session["credentials"] == {
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "aws_session_token": expected,
    }
    assert keys(session["resolved"]) == (KEY_ID, SECRET, expected)


@pytest.mark.parametrize("option", ["profile", "aws_profile", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"])
def test_a_profile_gives_the_credentials(tmp_path, aws, monkeypatch, option) -> None:
    profiles(tmp_path, monkeypatch, hpc=("AKIAPROFILE", "profile-secret"))
    options = {"sources": ["ec2"]}
    if option.isupper():
        monkeypatch.setenv(option, "hpc")
    else:
        options[option] = "hpc"
    build(tmp_path, **options)
    (session,) = aws.sessions
    assert (session["profile"], session["credentials"]) == ("hpc", None)
    assert keys(session["resolved"]) == ("AKIAPROFILE", "profile-secret", None)


def test_aws_profile_wins_over_aws_default_profile(tmp_path, aws, monkeypatch) -> None:
    profiles(tmp_path, monkeypatch, hpc=("AKIAPROFILE", "s1"), other=("AKIAOTHER", "s2"))
    monkeypatch.setenv("AWS_PROFILE", "hpc")
    monkeypatch.setenv("AWS_DEFAULT_PROFILE", "other")
    build(tmp_path, sources=["ec2"])
    assert aws.sessions[0]["profile"] == "hpc"


def test_keys_come_before_the_profile_and_the_profile_before_the_chain(tmp_path, aws, monkeypatch, capsys) -> None:
    profiles(tmp_path, monkeypatch, hpc=("AKIAPROFILE", "s1"), default=("AKIADEFAULT", "s2"))
    build(tmp_path, sources=["ec2"], profile="hpc", access_key=KEY_ID, secret_key=SECRET)
    err = capsys.readouterr().err
    assert "profile hpc is not used: access_key and secret_key are set" in " ".join(err.split())
    assert_no_secret(err)
    # Keys from the environment over a profile from the environment (botocore's own order), without a warning.
    monkeypatch.setenv("AWS_PROFILE", "hpc")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    build(tmp_path, sources=["ec2"])
    assert "not used" not in capsys.readouterr().err
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    build(tmp_path, sources=["ec2"], profile="hpc")
    build(tmp_path, sources=["ec2"])  # boto3's chain: the default profile of the credentials file
    assert [s["resolved"].access_key for s in aws.sessions] == [KEY_ID, KEY_ID, "AKIAPROFILE", "AKIADEFAULT"]
    assert [s["profile"] for s in aws.sessions] == [None, None, "hpc", None]


def test_half_a_key_pair_is_refused_without_showing_it(tmp_path, aws) -> None:
    with pytest.raises(AnsibleError) as failure:
        build(tmp_path, sources=["ec2"], secret_key=SECRET)
    message = one_line(failure)
    assert "hybrid inventory: secret_key is set but access_key is not" in message
    assert_no_secret(message)
    assert aws.sessions == []


def test_an_empty_key_counts_as_unset(tmp_path, aws, monkeypatch) -> None:
    profiles(tmp_path, monkeypatch, hpc=("AKIAPROFILE", "s1"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    build(tmp_path, sources=["ec2"], access_key="", secret_key="", profile="hpc")  # as amazon.aws: '' unsets
    assert aws.sessions[0]["resolved"].access_key == "AKIAPROFILE"


# --- templates ------------------------------------------------------------------------------------------------------
def test_credential_options_are_templated(tmp_path, aws, monkeypatch) -> None:
    monkeypatch.setenv("HPC_TEST_KEY", KEY_ID)
    monkeypatch.setenv("HPC_TEST_SECRET", SECRET)
    build(
        tmp_path,
        sources=["ec2"],
        access_key="{{ lookup('ansible.builtin.env', 'HPC_TEST_KEY') }}",
        secret_key="{{ lookup('ansible.builtin.env', 'HPC_TEST_SECRET') }}",
        session_token="{{ 'tok' ~ 'en' }}",
    )
    assert keys(aws.sessions[0]["resolved"]) == (KEY_ID, SECRET, "token")


def test_other_options_are_not_templated(tmp_path, aws) -> None:
    aws.expected_filters = [
        {"Name": "tag:{{ 'hpc_cluster' }}", "Values": ["hpc1"]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ]
    build(
        tmp_path, sources=["ec2"], strict=True, access_key=KEY_ID, secret_key=SECRET, cluster_tag="{{ 'hpc_cluster' }}"
    )
    for stubber in aws.stubbers:
        stubber.assert_no_pending_responses()


def test_a_failed_template_of_a_secret_names_the_option_only(tmp_path, aws) -> None:
    with pytest.raises(AnsibleError) as failure:
        build(tmp_path, sources=["ec2"], access_key=KEY_ID, secret_key="{{ no_such_variable ~ '" + SECRET + "' }}")
    message = one_line(failure)
    assert "hybrid inventory: the template of secret_key could not be rendered (AnsibleUndefinedVariable)" in message
    assert_no_secret(message)
    assert "no_such_variable" not in message


# --- AssumeRole -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["iam_role_arn", "assume_role_arn"])
def test_the_role_is_assumed_once_for_all_regions(tmp_path, aws, option) -> None:
    inventory = build(
        tmp_path,
        sources=["ec2"],
        regions=["eu-west-1", "us-east-1"],
        access_key=KEY_ID,
        secret_key=SECRET,
        endpoint_url="http://ec2.example.test:4566",
        **{option: ROLE},
    )
    assert len(aws.sts_clients) == 1  # one AssumeRole (its stub checks RoleArn and the session name)
    (sts,) = aws.sts_clients
    assert sts.meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"  # not the EC2 endpoint_url
    assert keys(aws.sessions[0]["resolved"]) == (KEY_ID, SECRET, None)  # STS is asked with the base credentials
    assert sorted(client.meta.region_name for client in aws.ec2_clients) == ["eu-west-1", "us-east-1"]
    assert {keys(c) for c in aws.ec2_credentials} == {(ROLE_KEY_ID, ROLE_SECRET, ROLE_TOKEN)}
    assert {client.meta.endpoint_url for client in aws.ec2_clients} == {"http://ec2.example.test:4566"}
    for stubber in aws.stubbers:
        stubber.assert_no_pending_responses()
    assert inventory.get_host("c01").get_vars()["ec2_region"] in ("eu-west-1", "us-east-1")


def test_the_role_is_assumed_with_the_profile_and_aws_endpoint_url_sts(tmp_path, aws, monkeypatch) -> None:
    profiles(tmp_path, monkeypatch, hpc=("AKIAPROFILE", "profile-secret"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://sts.example.test:4566")
    build(tmp_path, sources=["ec2"], aws_profile="hpc", iam_role_arn=ROLE)
    (sts,) = aws.sts_clients
    assert sts.meta.endpoint_url == "http://sts.example.test:4566"
    assert aws.sessions[0]["resolved"].access_key == "AKIAPROFILE"
    assert [keys(c) for c in aws.ec2_credentials] == [(ROLE_KEY_ID, ROLE_SECRET, ROLE_TOKEN)]


def test_sts_access_denied_is_one_line_naming_the_role(tmp_path, aws) -> None:
    aws.sts_error = ("AccessDenied", f"User is not authorized to perform: sts:AssumeRole on resource: {ROLE}")
    with pytest.raises(AnsibleError) as failure:
        build(
            tmp_path,
            sources=["ec2"],
            strict=True,
            access_key=KEY_ID,
            secret_key=SECRET,
            session_token=TOKEN,
            iam_role_arn=ROLE,
            regions=["eu-west-1", "us-east-1"],
        )
    message = one_line(failure)
    assert message.startswith(f"hybrid inventory: ec2 source: cannot assume role {ROLE} (AccessDenied: ")
    assert_no_secret(message)
    assert aws.ec2_clients == []  # no region is read with the wrong credentials


def test_sts_failure_without_strict_skips_the_ec2_source_with_a_warning(tmp_path, aws, monkeypatch, capsys) -> None:
    aws.sts_error = ("AccessDenied", "not authorized")
    monkeypatch.setattr(
        hybrid,
        "fetch_containers",
        lambda *args: [{"Id": "a" * 64, "Names": ["/onprem01"], "Labels": {"org.hpcstack.role": "slurm_compute"}}],
    )
    inventory = build(tmp_path, access_key=KEY_ID, secret_key=SECRET, iam_role_arn=ROLE)
    assert "onprem01" in inventory.hosts
    assert "ec2" not in inventory.groups
    err = " ".join(capsys.readouterr().err.split())
    assert f"cannot assume role {ROLE} (AccessDenied: not authorized); this source is skipped" in err
    assert_no_secret(err)


# --- secrets stay out of errors, warnings and the cache -------------------------------------------------------------
def test_a_secret_quoted_by_aws_is_redacted_from_the_error(tmp_path, aws) -> None:
    aws.ec2_error = ("AuthFailure", f"key {KEY_ID} with secret {SECRET} and token {TOKEN} was refused")
    with pytest.raises(AnsibleError) as failure:
        build(tmp_path, sources=["ec2"], strict=True, access_key=KEY_ID, secret_key=SECRET, session_token=TOKEN)
    message = one_line(failure)
    assert "ec2 source, region eu-west-1: AWS rejected the credentials (AuthFailure: key ******** with" in message
    assert_no_secret(message)


def test_role_credentials_quoted_by_aws_are_redacted_from_the_warning(tmp_path, aws, capsys) -> None:
    aws.ec2_error = ("AuthFailure", f"{ROLE_KEY_ID}/{ROLE_SECRET}/{ROLE_TOKEN}")
    build(tmp_path, sources=["ec2"], access_key=KEY_ID, secret_key=SECRET, iam_role_arn=ROLE)
    err = capsys.readouterr().err
    assert "AWS rejected the credentials" in err
    assert_no_secret(err)


def test_the_cache_holds_no_secret(tmp_path, aws) -> None:
    cache = tmp_path / "cache"
    options = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(cache)}
    build(
        tmp_path,
        sources=["ec2"],
        access_key=KEY_ID,
        secret_key=SECRET,
        session_token=TOKEN,
        iam_role_arn=ROLE,
        **options,
    )
    files = list(cache.iterdir())
    assert files
    for path in files:
        assert_no_secret(path.name)
        assert_no_secret(path.read_text())
        assert "i-0000000000000001" in path.read_text()


def test_secret_options_are_documented_as_secret() -> None:
    options = yaml.safe_load(hybrid.DOCUMENTATION)["options"]
    for name in ("access_key", "secret_key", "session_token"):
        assert options[name]["secret"] is True, name
    assert options["access_key"]["aliases"] == ["aws_access_key_id", "aws_access_key"]
    assert options["secret_key"]["aliases"] == ["aws_secret_access_key", "aws_secret_key"]
    assert options["session_token"]["aliases"] == ["aws_session_token"]
    assert options["profile"]["aliases"] == ["aws_profile"]
    assert options["assume_role_arn"]["aliases"] == ["iam_role_arn"]
    assert "secret" not in options["profile"]
