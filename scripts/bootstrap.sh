# Sourced by scripts/serve and scripts/test: makes .venv on first use and reinstalls the
# project whenever pyproject.toml changes. Needs Python 3.11 or newer.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "convo needs Python 3.11 or newer on PATH" >&2
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  echo "Creating $venv ..." >&2
  "$(find_python)" -m venv "$venv"
fi
wanted=$(cat "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$wanted" ]; then
  echo "Installing convo and its development tools into $venv ..." >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[dev]"
  echo "$wanted" >"$venv/.installed"
fi
export PATH="$venv/bin:$PATH"
cd "$root"
