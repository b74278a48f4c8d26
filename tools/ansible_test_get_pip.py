"""Stand-in for the get-pip.py bootstrap script that ansible-test downloads from a host unreachable here.

ansible-test runs it inside each fresh sanity virtualenv as `get_pip.py [pip install options] pip==X ...`
(see ansible-test's own message and ansible/ansible#77304, which asks for the script to be saved locally).
This one installs the interpreter's bundled pip with ensurepip, then lets that pip install what was asked for
from the configured package index. The get-pip-only flags --no-setuptools and --no-wheel are dropped.
"""

import ensurepip
import os
import subprocess
import sys

# ensurepip turns pip's configuration off in this process's environment; the real install needs it back
# (the site's index and CA certificate live there).
environment = dict(os.environ)
ensurepip.bootstrap()
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args], env=environment))
