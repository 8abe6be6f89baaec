#!/usr/bin/env bash
# Installs what building, running and testing Video Factory needs on Debian 12:
# the Debian packages below (only those missing; fast when all are present) and
# the node modules of tests/ (only when they are missing or out of date).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

packages=(
    build-essential pkg-config
    libfcgi-dev spawn-fcgi libcurl4-openssl-dev libjansson-dev default-libmysqlclient-dev
    libavformat-dev libavcodec-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev
    libespeak-ng-dev espeak-ng-data check libssl-dev libcrypt-dev
    nginx-light mariadb-server mariadb-client ffmpeg fonts-dejavu-core curl
    chromium wrk clang libclang-rt-14-dev
)

say() { printf 'deps: %s\n' "$*"; }

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [[ $status == ii* ]] || missing+=("$p")
done
# Node may come from Debian or from elsewhere (NodeSource bundles npm): ask for
# the Debian packages only when the commands are absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then
        sudo=()
    elif command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        say "missing packages: ${missing[*]}"
        say "run as root: apt-get update && apt-get install -y ${missing[*]}"
        exit 1
    fi
    say "installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
else
    say "all ${#packages[@]} Debian packages present"
fi

# Node modules of the integration and browser tests.
tests_dir="$repo/tests"
has_deps() {
    node -e 'const p = require(process.argv[1]);
             process.exit(Object.keys({ ...p.dependencies, ...p.devDependencies }).length ? 0 : 1)' \
        "$tests_dir/package.json"
}
if [[ -f $tests_dir/package.json ]] && has_deps; then
    stamp="$tests_dir/node_modules/.package-lock.json"
    if [[ ! -f $stamp || $tests_dir/package.json -nt $stamp ||
          ( -f $tests_dir/package-lock.json && $tests_dir/package-lock.json -nt $stamp ) ]]; then
        if [[ -f $tests_dir/package-lock.json ]]; then
            say "npm ci in tests/"
            (cd "$tests_dir" && npm ci --no-audit --no-fund)
        else
            say "npm install in tests/"
            (cd "$tests_dir" && npm install --no-audit --no-fund)
        fi
        [[ ! -f $stamp ]] || touch "$stamp"
    else
        say "node modules of tests/ present"
    fi
fi
