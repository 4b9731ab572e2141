# Sourced by the setup scripts: installs pinned Python packages into a cached
# virtualenv, once, under a lock so that concurrent runs do not race.
#   venv_install VENV LABEL NOTE EXE CHECK PACKAGES...
# VENV is reused when VENV/bin/EXE exists and its python runs CHECK; else it is
# rebuilt with PACKAGES. Says "LABEL: cached in VENV" or "LABEL: NOTE" on stderr.

venv_ready() { # venv, exe, check
  [ -x "$1/bin/$2" ] && "$1/bin/python" -c "$3" 2>/dev/null
}

venv_install() {
  local venv="$1" label="$2" note="$3" exe="$4" check="$5"; shift 5
  if venv_ready "$venv" "$exe" "$check"; then
    echo "$label: cached in $venv" >&2
    return
  fi
  echo "$label: $note" >&2
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if ! venv_ready "$venv" "$exe" "$check"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
  fi
  exec 9>&-
}
