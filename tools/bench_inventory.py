"""Inventory benchmark, run by `make bench`: 5,000 EC2 instances in moto, read by this plugin and by aws_ec2.

Starts a moto EC2 server on 127.0.0.1 (stopped by its pid at the end), launches the instances of one cluster
(a bastion in a public subnet, the rest in a private one, tagged like provision_aws.yml tags them) plus 500 of
another cluster that the filters must leave out, then times `ansible-inventory --list` on the same server:

1. hpcstack.cluster.hybrid, uncached (a fresh cache directory, so the run fetches and fills it);
2. amazon.aws.aws_ec2 with the same filter and role groups (keyed_groups on the role tag), uncached;
3. both again, answered from their cache (jsonfile);
4. moto's own DescribeInstances time for the cluster (one boto3 paginated call), the floor of any uncached run.

Each run's wall time and peak memory (max RSS of the ansible-inventory process) is printed; the hybrid plugin's
and aws_ec2's host sets are compared, so a fast but wrong inventory does not pass.
Target of the inventory issue: uncached no slower than aws_ec2, cached <= 5 s.
Usage: python tools/bench_inventory.py [INSTANCES]     (default 5000)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import yaml
from botocore.config import Config
from moto_server import MotoServer

REPO = Path(__file__).resolve().parents[1]
CLUSTER = "bench"
BATCH = 500  # instances per RunInstances call

# moto answers a DescribeInstances over 5,500 instances in one page: on a slow machine that took longer than
# botocore's 60 s read timeout, and each retry started it again.
MOTO_CLIENT_CONFIG = Config(read_timeout=900, retries={"max_attempts": 1})


def launch(url: str, count: int) -> None:
    ec2 = boto3.client("ec2", endpoint_url=url, config=MOTO_CLIENT_CONFIG)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    private = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.32.0/19")["Subnet"]["SubnetId"]
    other = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.64.0/22")["Subnet"]["SubnetId"]

    def run(n: int, subnet: str, cluster: str, role: str, public_ip: bool = False) -> None:
        tags = [{"Key": "hpc_cluster", "Value": cluster}, {"Key": "hpc_role", "Value": role}]
        ec2.run_instances(
            ImageId=image,
            MinCount=n,
            MaxCount=n,
            InstanceType="c5n.18xlarge",
            NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "AssociatePublicIpAddress": public_ip}],
            TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
        )

    run(1, public, CLUSTER, "bastion", public_ip=True)
    run(1, private, CLUSTER, "slurm_controller,slurmdbd,monitoring")
    left = count - 2
    while left > 0:
        run(min(BATCH, left), private, CLUSTER, "slurm_compute")
        left -= BATCH
    run(500, other, "someone-else", "slurm_compute")


def describe_seconds(url: str) -> float:
    ec2 = boto3.client("ec2", endpoint_url=url, config=MOTO_CLIENT_CONFIG)
    start = time.monotonic()
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[
            {"Name": "tag:hpc_cluster", "Values": [CLUSTER]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )
    found = sum(len(r["Instances"]) for page in pages for r in page["Reservations"])
    elapsed = time.monotonic() - start
    print(f"bench: moto DescribeInstances alone: {found} instances in {elapsed:.1f} s")
    return elapsed


def configs(workdir: Path, url: str) -> dict[str, Path]:
    cache = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_timeout": 3600}
    hybrid = {
        "plugin": "hpcstack.cluster.hybrid",
        "cluster": CLUSTER,
        "sources": ["ec2"],
        "regions": ["eu-west-1"],
        "endpoint_url": url,
        "cache_connection": str(workdir / "cache-hybrid"),
        **cache,
    }
    aws_ec2 = {
        "plugin": "amazon.aws.aws_ec2",
        "regions": ["eu-west-1"],
        "endpoint_url": url,
        "filters": {"tag:hpc_cluster": CLUSTER, "instance-state-name": "running"},
        "hostnames": ["instance-id"],
        "keyed_groups": [{"key": "tags.hpc_role.split(',')", "separator": "", "prefix": ""}],
        "compose": {"ansible_host": "public_ip_address | default(private_ip_address)"},
        "cache_connection": str(workdir / "cache-aws_ec2"),
        **cache,
    }
    paths = {}
    for name, config in (("hybrid", hybrid), ("aws_ec2", aws_ec2)):
        path = workdir / ("cluster.hybrid.yml" if name == "hybrid" else "cluster.aws_ec2.yml")
        path.write_text(yaml.safe_dump(config))
        paths[name] = path
    return paths


MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
result = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.PIPE, text=True)
seconds = time.monotonic() - start
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": result.returncode, "seconds": seconds, "peak_kib": peak, "stderr": result.stderr[-2000:]}))
"""


def measure(label: str, config: Path, output: Path, *extra: str) -> dict:
    """Run ansible-inventory once in a fresh process, so the peak memory is this run's alone."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    command = [sys.executable, "-c", MEASURE, str(output), "ansible-inventory", "-i", str(config), "--list", *extra]
    result = json.loads(subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, check=True).stdout)
    if result["rc"] != 0:
        sys.exit(f"bench: {label} failed: {result['stderr']}")
    hosts = json.loads(output.read_text())["_meta"]["hostvars"]
    result["hosts"] = len(hosts)
    print(
        f"bench: {label:<22} {result['seconds']:6.1f} s  peak {result['peak_kib'] / 1024:6.0f} MiB  {len(hosts)} hosts"
    )
    return result


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    if not 2 <= count <= 8000:
        sys.exit("bench: INSTANCES must be 2..8000 (the private subnet is a /19)")
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    with tempfile.TemporaryDirectory(prefix="hpcstack-bench-inventory.") as tmp:
        workdir = Path(tmp)
        moto = MotoServer(workdir / "moto.log")
        url = moto.url
        try:
            start = time.monotonic()
            launch(url, count)
            print(
                f"bench: {count} cluster instances (+500 of another cluster) launched in moto in "
                f"{time.monotonic() - start:.0f} s"
            )
            floor = describe_seconds(url)
            paths = configs(workdir, url)
            runs = {
                "hybrid uncached": measure("hybrid uncached", paths["hybrid"], workdir / "h1.json", "--flush-cache"),
                "aws_ec2 uncached": measure("aws_ec2 uncached", paths["aws_ec2"], workdir / "a1.json", "--flush-cache"),
                "hybrid cached": measure("hybrid cached", paths["hybrid"], workdir / "h2.json"),
                "aws_ec2 cached": measure("aws_ec2 cached", paths["aws_ec2"], workdir / "a2.json"),
            }
        finally:
            moto.stop()
        hybrid_hosts = json.loads((workdir / "h1.json").read_text())
        aws_ids = set(json.loads((workdir / "a1.json").read_text())["_meta"]["hostvars"])
        ids = {plain(v["ec2_instance_id"]) for v in hybrid_hosts["_meta"]["hostvars"].values()}
        if ids != aws_ids or len(ids) != count:
            sys.exit(f"bench: the two plugins disagree: hybrid {len(ids)} hosts, aws_ec2 {len(aws_ids)}")
    hybrid, aws = runs["hybrid uncached"]["seconds"], runs["aws_ec2 uncached"]["seconds"]
    cached = runs["hybrid cached"]["seconds"]
    print(f"bench: uncached hybrid/aws_ec2 = {hybrid / aws:.2f} (target <= 1.0; moto's own share {floor:.1f} s)")
    print(f"bench: cached hybrid {cached:.1f} s (target <= 5 s), aws_ec2 {runs['aws_ec2 cached']['seconds']:.1f} s")
    if hybrid > aws or cached > 5:
        sys.exit("bench: inventory target missed")


def plain(value: object) -> object:
    return value["__ansible_unsafe"] if isinstance(value, dict) and "__ansible_unsafe" in value else value


if __name__ == "__main__":
    main()
