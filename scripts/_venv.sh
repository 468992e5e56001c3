# Sourced by the scripts: makes ./.venv with the project installed, once per pyproject.toml.
ensure_venv() {
  local stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
  if [ ! -f "$stamp" ]; then
    echo "== setting up .venv (first run only)" >&2
    python3 -m venv .venv
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' >&2
    rm -f .venv/.installed-* && touch "$stamp"
  fi
}
