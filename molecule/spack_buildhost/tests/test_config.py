"""Spack's configuration and environments as the role rendered them: valid YAML of Spack's schema, holding the
versions actually found on the build host."""

from __future__ import annotations

import jsonschema
import pytest
import yaml
from conftest import CONFIG_DIR, ENVIRONMENTS_DIR, INSTALL_ROOT, MODULES_ROOT
from spack_schema import CONFIG_FILES, ENVIRONMENT

ENVIRONMENTS = ["production", "gpu", "debug"]


def load(host, path: str) -> dict:
    """The YAML document in a file of the host."""
    file = host.file(path)
    assert file.exists, f"{path} is missing"
    return yaml.safe_load(file.content_string)


@pytest.mark.parametrize("name", sorted(CONFIG_FILES))
def test_configuration_file_matches_spacks_schema(build_host, name):
    jsonschema.validate(load(build_host, f"{CONFIG_DIR}/{name}"), CONFIG_FILES[name])


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_environment_matches_spacks_schema(build_host, name):
    environment = load(build_host, f"{ENVIRONMENTS_DIR}/{name}/spack.yaml")
    jsonschema.validate(environment, ENVIRONMENT)
    assert environment["spack"]["specs"], f"environment {name} has no specs"


def test_schema_excerpt_rejects_a_misspelt_key():
    """The excerpt is strict enough to matter: a typo in a key fails."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"config": {"install_tre": {"root": "/x"}}}, CONFIG_FILES["config.yaml"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"spack": {"specs": ["zlib"], "veiw": False}}, ENVIRONMENT)


def test_compiler_is_the_hosts_gcc(build_host):
    version = build_host.check_output("gcc -dumpfullversion")
    compiler = load(build_host, f"{CONFIG_DIR}/compilers.yaml")["compilers"][0]["compiler"]
    assert compiler["spec"] == f"gcc@={version}"
    assert compiler["paths"]["fc"] == "/usr/bin/gfortran"
    assert compiler["operating_system"] == "debian12"
    modules = load(build_host, f"{CONFIG_DIR}/modules.yaml")["modules"]["default"]
    assert modules["lmod"]["core_compilers"] == [f"gcc@={version}"]


def test_openmpi_is_debians_and_not_buildable(build_host):
    ompi = build_host.check_output("ompi_info --parsable | sed -n 's/^ompi:version:full://p'")
    openmpi = load(build_host, f"{CONFIG_DIR}/packages.yaml")["packages"]["openmpi"]
    assert openmpi == {"externals": [{"spec": f"openmpi@{ompi}", "prefix": "/usr"}], "buildable": False}


def test_module_roots_coincide(build_host):
    """Spack's Lmod generator writes into the tree the toolchain's modules and Lmod's search path use."""
    config = load(build_host, f"{CONFIG_DIR}/config.yaml")["config"]
    modules = load(build_host, f"{CONFIG_DIR}/modules.yaml")["modules"]["default"]
    assert config["install_tree"]["root"] == f"{INSTALL_ROOT}/store"
    assert modules["roots"]["lmod"] == MODULES_ROOT
    assert modules["arch_folder"] is False
    assert f"{MODULES_ROOT}/Core" in build_host.file("/etc/lmod/modulespath").content_string.split()
    mirrors = load(build_host, f"{CONFIG_DIR}/mirrors.yaml")["mirrors"]
    assert build_host.file(mirrors["local"].removeprefix("file://")).is_directory
