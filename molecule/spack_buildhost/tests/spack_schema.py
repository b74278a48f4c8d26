"""Excerpts of Spack's configuration schema (lib/spack/spack/schema/*.py, as its documentation describes each file).

Only the parts the role writes, and stricter than Spack where that catches a typo: a key Spack does not know for a
section is an error here (Spack itself ignores some unknown keys). With SPACK_SOURCE set, the scenario also has the
files read by Spack itself, which checks them against its full schema.
"""

from __future__ import annotations

STRING_OR_LIST = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
SPEC_LIST = {"type": "array", "items": {"type": "string"}}

CONFIG = {
    "type": "object",
    "additionalProperties": False,
    "required": ["config"],
    "properties": {
        "config": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "install_tree": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "root": {"type": "string"},
                        "padded_length": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "boolean"}]},
                        "projections": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                },
                "build_stage": STRING_OR_LIST,
                "build_jobs": {"type": "integer", "minimum": 1},
                "source_cache": {"type": "string"},
                "misc_cache": {"type": "string"},
            },
        }
    },
}

COMPILER_PATH = {"anyOf": [{"type": "string"}, {"type": "null"}]}
COMPILERS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["compilers"],
    "properties": {
        "compilers": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "compiler": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["paths", "spec", "modules", "operating_system"],
                        "properties": {
                            "paths": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["cc", "cxx", "f77", "fc"],
                                "properties": {key: COMPILER_PATH for key in ("cc", "cxx", "f77", "fc")},
                            },
                            "flags": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    key: {"anyOf": [{"type": "string"}, {"type": "null"}]}
                                    for key in ("cflags", "cxxflags", "fflags", "cppflags", "ldflags", "ldlibs")
                                },
                            },
                            "spec": {"type": "string"},
                            "operating_system": {"type": "string"},
                            "target": {"type": "string"},
                            "alias": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                            "modules": {
                                "anyOf": [{"type": "string"}, {"type": "null"}, {"type": "array"}],
                            },
                            "implicit_rpaths": {"anyOf": [SPEC_LIST, {"type": "boolean"}]},
                            "environment": {"type": "object"},
                            "extra_rpaths": SPEC_LIST,
                        },
                    }
                },
            },
        }
    },
}

EXTERNAL = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "spec": {"type": "string"},
        "prefix": {"type": "string"},
        "modules": SPEC_LIST,
        "extra_attributes": {"type": "object"},
    },
}
PACKAGE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "buildable": {"type": "boolean"},
        "externals": {"type": "array", "items": EXTERNAL},
        "version": {"type": "array"},
        "variants": STRING_OR_LIST,
        "require": {"anyOf": [{"type": "string"}, {"type": "array"}]},
        "target": SPEC_LIST,
        "compiler": SPEC_LIST,
    },
}
PACKAGES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["packages"],
    "properties": {
        "packages": {
            "type": "object",
            "properties": {
                "all": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "compiler": SPEC_LIST,
                        "providers": {"type": "object", "additionalProperties": SPEC_LIST},
                        "target": SPEC_LIST,
                        "variants": STRING_OR_LIST,
                        "require": {"anyOf": [{"type": "string"}, {"type": "array"}]},
                        "buildable": {"type": "boolean"},
                    },
                }
            },
            "additionalProperties": PACKAGE,
        }
    },
}

MIRRORS = {
    "type": "object",
    "additionalProperties": False,
    "required": ["mirrors"],
    "properties": {
        "mirrors": {
            "type": "object",
            "additionalProperties": False,
            "patternProperties": {
                r"^\w[\w-]*$": {
                    "anyOf": [
                        {"type": "string"},
                        {
                            "type": "object",
                            "properties": {
                                "url": {"type": "string"},
                                "fetch": {"anyOf": [{"type": "string"}, {"type": "object"}]},
                                "push": {"anyOf": [{"type": "string"}, {"type": "object"}]},
                                "source": {"type": "boolean"},
                                "binary": {"type": "boolean"},
                            },
                        },
                    ]
                }
            },
        }
    },
}

MODULE_FILE = {
    "type": "object",
    "properties": {
        "autoload": {"enum": ["none", "run", "direct", "all"]},
        "environment": {"type": "object"},
        "template": {"type": "string"},
        "load": SPEC_LIST,
        "conflict": SPEC_LIST,
        "prerequisites": {"enum": ["none", "run", "direct", "all"]},
        "suffixes": {"type": "object"},
    },
}
LMOD = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "core_compilers": SPEC_LIST,
        "core_specs": SPEC_LIST,
        "hierarchy": SPEC_LIST,
        "filter_hierarchy_specs": {"type": "object"},
        "hash_length": {"type": "integer", "minimum": 0},
        "include": SPEC_LIST,
        "exclude": SPEC_LIST,
        "exclude_implicits": {"type": "boolean"},
        "hide_implicits": {"type": "boolean"},
        "defaults": SPEC_LIST,
        "naming_scheme": {"type": "string"},
        "verbose": {"type": "boolean"},
        "projections": {"type": "object", "additionalProperties": {"type": "string"}},
        "all": MODULE_FILE,
    },
}
MODULES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["modules"],
    "properties": {
        "modules": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"prefix_inspections": {"type": "object"}},
            "patternProperties": {
                r"^[\w-]+$": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "roots": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"tcl": {"type": "string"}, "lmod": {"type": "string"}},
                        },
                        "enable": {"type": "array", "items": {"enum": ["tcl", "lmod"]}},
                        "arch_folder": {"type": "boolean"},
                        "use_view": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
                        "lmod": LMOD,
                        "tcl": {"type": "object"},
                    },
                }
            },
        }
    },
}

MATRIX = {
    "type": "object",
    "additionalProperties": False,
    "required": ["matrix"],
    "properties": {
        "matrix": {"type": "array", "items": SPEC_LIST},
        "exclude": SPEC_LIST,
    },
}
ENVIRONMENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["spack"],
    "properties": {
        "spack": {
            "type": "object",
            "additionalProperties": False,
            "required": ["specs"],
            "properties": {
                "specs": {"type": "array", "items": {"anyOf": [{"type": "string"}, MATRIX]}},
                "view": {"anyOf": [{"type": "boolean"}, {"type": "string"}, {"type": "object"}]},
                "concretizer": {
                    "type": "object",
                    "properties": {
                        "unify": {"anyOf": [{"type": "boolean"}, {"enum": ["when_possible"]}]},
                        "reuse": {"anyOf": [{"type": "boolean"}, {"enum": ["dependencies"]}, {"type": "object"}]},
                    },
                },
                "packages": PACKAGES["properties"]["packages"],
                "definitions": {"type": "array"},
                "include": SPEC_LIST,
                "modules": MODULES["properties"]["modules"],
                "config": CONFIG["properties"]["config"],
                "mirrors": MIRRORS["properties"]["mirrors"],
            },
        }
    },
}

# The file name in /etc/spack -> its schema.
CONFIG_FILES = {
    "config.yaml": CONFIG,
    "compilers.yaml": COMPILERS,
    "packages.yaml": PACKAGES,
    "mirrors.yaml": MIRRORS,
    "modules.yaml": MODULES,
}
