"""Make the checkout importable as ansible_collections.hpcstack.cluster for the unit tests.

The same way ansible-test does it: Ansible's collection loader, given a path that holds
ansible_collections/hpcstack/cluster (here the .collections link to this checkout).
"""

from pathlib import Path

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

_AnsibleCollectionFinder(paths=[str(Path(__file__).resolve().parents[2] / ".collections")])._install()
