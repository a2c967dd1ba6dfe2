#!/usr/bin/env bash
# Installs what the build and the tests need, skipping whatever is already present, so a second
# run takes a second. Usage: scripts/setup.sh [build|test]  (test adds the browser and servers).
set -euo pipefail
cd "$(dirname "$0")/.."
want=${1:-build}

die() { echo "setup: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

have cargo || die "cargo not found: install Rust with rustup (https://rustup.rs), then rerun make"
have rustup || die "rustup not found: the wasm32 target is installed with rustup; install Rust with rustup"
have node || die "node not found: install Node.js 20 or newer (Debian: apt-get install nodejs npm)"
have npm || die "npm not found: install npm (Debian: apt-get install npm)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old: install Node.js 20 or newer"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  echo "setup: adding the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must be exactly the version the crate pins, or the glue will not match.
pinned=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
[ -n "$pinned" ] || die "could not read the pinned wasm-bindgen version from Cargo.toml"
installed=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$installed" != "$pinned" ]; then
  echo "setup: installing wasm-bindgen-cli $pinned (found: ${installed:-none}); this takes a few minutes once"
  cargo install wasm-bindgen-cli --version "$pinned"
fi

# npm packages from the committed lock file; reinstall only when the lock file changed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# PostgreSQL's initdb and postgres: on PATH, in PG_BIN, or where Debian puts them (off PATH).
have_postgres() {
  [ -n "${PG_BIN:-}" ] && [ -x "$PG_BIN/initdb" ] && return 0
  have initdb && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

apt_install() {
  local missing=()
  for pair in "$@"; do
    local cmd=${pair%%:*} pkg=${pair#*:}
    if [ "$cmd" = initdb ]; then
      have_postgres || missing+=("$pkg")
    else
      have "$cmd" || missing+=("$pkg")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
    die "missing ${missing[*]}: install them with your package manager (Debian: apt-get install ${missing[*]})"
  fi
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

if [ "$want" = test ]; then
  # c++ builds Luau from source for host/luau-runtime; postgresql is for the PostgresStore tests
  # (tests/js/helpers/postgres.mjs runs its own server, so the package's cluster is not used).
  apt_install chromium:chromium chromedriver:chromium-driver redis-server:redis-server c++:g++ initdb:postgresql
fi
