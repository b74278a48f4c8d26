#!/usr/bin/python
# Copyright: (c) 2026, hpcstack maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install an APT repository's signing key only when its fingerprint is one the caller pinned."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apt_signing_key
short_description: Install an APT repository's signing key checked against pinned fingerprints
version_added: 0.1.0
description:
  - Fetches an OpenPGP public key (C(https://), or C(file://) for a key already on the host), lists its primary keys
    with C(gpg --show-keys) in a throw-away GnuPG home, and writes it to O(dest) only when every primary key's
    fingerprint is one of O(fingerprints). A key that does not match fails the task and leaves O(dest) as it was, so a
    repository's C(Signed-By) never points at a key nobody checked.
  - C(ansible.builtin.deb822_repository)'s C(signed_by) with an URL, and C(ansible.builtin.get_url), fetch a key
    without looking at what it is; C(http://) is refused because anyone on the path could give another key.
  - O(dest) ending in C(.asc) gets the armored key, ending in C(.gpg) the binary one (converted with
    C(gpg --dearmor) when the source is armored). Supports check mode and diff-less change reporting.
options:
  url:
    description: Where the key is, C(https://...) or C(file:///path).
    type: str
    required: true
  dest:
    description:
      - The keyring file to write, for example C(/etc/apt/keyrings/grafana.asc). It must end in C(.asc) or C(.gpg).
    type: path
    required: true
  fingerprints:
    description:
      - The accepted fingerprints of the primary keys, 40 hexadecimal digits each (spaces are ignored, case does not
        matter). More than one while a vendor rotates its key.
    type: list
    elements: str
    required: true
  mode:
    description: The file mode of O(dest).
    type: raw
    default: "0644"
  timeout:
    description: Seconds to wait for the key's server.
    type: int
    default: 30
  validate_certs:
    description: Check the server's TLS certificate.
    type: bool
    default: true
requirements:
  - gpg on the managed host (Debian's C(gpg) package)
author:
  - hpcstack maintainers (@hpcstack)
"""

EXAMPLES = r"""
- name: Install Grafana's signing key, checked against its published fingerprint
  hpcstack.cluster.apt_signing_key:
    url: https://apt.grafana.com/gpg.key
    dest: /etc/apt/keyrings/grafana.asc
    fingerprints: [B53AE77BADB630A683046005963FA27710458545]
"""

RETURN = r"""
fingerprints:
  description: The fingerprints of the key's primary keys, as gpg lists them.
  returned: success, and on a mismatch
  type: list
  elements: str
  sample: [B53AE77BADB630A683046005963FA27710458545]
dest:
  description: The keyring file.
  returned: always
  type: str
"""

import os
import re
import shutil
import tempfile
from urllib.parse import urlparse

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url

ARMOR_HEADER = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"
FINGERPRINT_RE = re.compile(r"^[0-9A-F]{40}$")


def normalise_fingerprint(value: str) -> str:
    return re.sub(r"\s+", "", value).upper()


def check_options(module: AnsibleModule) -> list[str]:
    """Refuse bad options, each by its name, before anything is fetched or written."""
    params = module.params
    url = urlparse(params["url"])
    if url.scheme not in ("https", "file") or (url.scheme == "https" and not url.netloc) or not url.path:
        module.fail_json(
            msg=f"url is {params['url']!r}; give an https:// URL (or file:// for a key on the host): a key fetched "
            "over plain http can be swapped by anyone on the path."
        )
    if not params["dest"].endswith((".asc", ".gpg")):
        module.fail_json(
            msg=f"dest is {params['dest']!r}; it must end in .asc (armored) or .gpg (binary), as APT reads them."
        )
    fingerprints = [normalise_fingerprint(value) for value in params["fingerprints"]]
    bad = [
        value
        for value, clean in zip(params["fingerprints"], fingerprints, strict=True)
        if not FINGERPRINT_RE.match(clean)
    ]
    if not fingerprints or bad:
        module.fail_json(
            msg=f"fingerprints must be a non-empty list of 40-hex-digit key fingerprints; not fingerprints: {bad}"
        )
    return fingerprints


def fetch(module: AnsibleModule) -> bytes:
    url = module.params["url"]
    if url.startswith("file://"):
        path = urlparse(url).path
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as error:
            module.fail_json(msg=f"Cannot read the key at url {url}: {error}")
    response, info = fetch_url(module, url, timeout=module.params["timeout"])
    if response is None or info.get("status") != 200:
        status = f"HTTP {info.get('status')} {info.get('msg', '')}".strip()
        module.fail_json(msg=f"Cannot fetch the key at url {url}: {status}")
    return response.read()


def primary_fingerprints(colons: str) -> list[str]:
    """The fingerprints of the primary keys in `gpg --with-colons --show-keys` output (subkeys' are skipped)."""
    found, in_primary = [], False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] in ("pub", "sub", "sec", "ssb"):
            in_primary = fields[0] in ("pub", "sec")
        elif fields[0] == "fpr" and in_primary and len(fields) > 9:
            found.append(fields[9].upper())
            in_primary = False
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "dest": {"type": "path", "required": True},
            "fingerprints": {"type": "list", "elements": "str", "required": True},
            "mode": {"type": "raw", "default": "0644"},
            "timeout": {"type": "int", "default": 30},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    expected = check_options(module)
    dest = module.params["dest"]
    gpg = module.get_bin_path("gpg", required=True)
    data = fetch(module)

    work = tempfile.mkdtemp(dir=module.tmpdir)
    try:
        source = os.path.join(work, "key")
        with open(source, "wb") as handle:
            handle.write(data)
        home = os.path.join(work, "gnupg")
        os.mkdir(home, 0o700)
        base = [gpg, "--batch", "--no-tty", "--homedir", home]
        rc, out, err = module.run_command([*base, "--with-colons", "--fixed-list-mode", "--show-keys", source])
        found = primary_fingerprints(out) if rc == 0 else []
        if not found:
            module.fail_json(
                msg=f"The data at url {module.params['url']} is not an OpenPGP public key (gpg: {err.strip()}); "
                f"{dest} was left as it was.",
                dest=dest,
            )
        foreign = [value for value in found if value not in expected]
        if foreign:
            module.fail_json(
                msg=f"The key at url {module.params['url']} has fingerprint(s) {', '.join(foreign)}, which are not in "
                f"fingerprints ({', '.join(expected)}); {dest} was left as it was. If the vendor rotated its key, "
                "check the new fingerprint where the vendor publishes it before adding it.",
                dest=dest,
                fingerprints=found,
            )

        armored = data.lstrip().startswith(ARMOR_HEADER)
        if dest.endswith(".asc") and not armored:
            module.fail_json(msg=f"The key at url {module.params['url']} is binary; give dest a .gpg name, not {dest}.")
        if dest.endswith(".gpg") and armored:
            binary = os.path.join(work, "key.gpg")
            rc, _out, err = module.run_command([*base, "--output", binary, "--dearmor", source])
            if rc != 0:
                module.fail_json(msg=f"gpg --dearmor failed on the key at url {module.params['url']}: {err.strip()}")
            with open(binary, "rb") as handle:
                data = handle.read()

        current = None
        if os.path.exists(dest):
            with open(dest, "rb") as handle:
                current = handle.read()
        changed = current != data
        if changed and not module.check_mode:
            os.makedirs(os.path.dirname(dest) or ".", 0o755, exist_ok=True)
            staged = os.path.join(work, "staged")
            with open(staged, "wb") as handle:
                handle.write(data)
            module.atomic_move(staged, dest)
        file_args = module.load_file_common_arguments({"path": dest, "mode": module.params["mode"]})
        if os.path.exists(dest):
            changed = module.set_fs_attributes_if_different(file_args, changed)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    module.exit_json(changed=changed, dest=dest, fingerprints=found)


if __name__ == "__main__":
    main()
