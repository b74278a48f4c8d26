# shellcheck shell=bash
# Shared by the test-bed scripts (source it): install a Debian package for a missing command.

# ensure_command CMD PACKAGE: succeed when CMD is on PATH; else, as root on Debian, install PACKAGE (updating
# the package lists only when the first try fails); else fail with a message naming both.
ensure_command() {
  local cmd=$1 package=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [[ $(id -u) -ne 0 ]] || ! grep -qs '^ID=debian' /etc/os-release; then
    echo "$cmd is required: install the $package package (root on Debian would install it here)" >&2
    return 1
  fi
  echo "installing Debian's $package (for $cmd)"
  export DEBIAN_FRONTEND=noninteractive
  # make cluster installs the engine and mmdebstrap side by side: the second waits for dpkg's lock.
  local apt=(apt-get -o DPkg::Lock::Timeout=300)
  "${apt[@]}" install -y -qq "$package" >/dev/null \
    || { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq "$package" >/dev/null; }
}
