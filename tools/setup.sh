#!/usr/bin/env bash
# tools/setup.sh: installs the Debian packages that qg-cpp's build, tests,
# benchmarks and demo need. Idempotent: runs `apt-get update` only when a
# package is missing, and does nothing at all when everything is present.
#
# Usage: tools/setup.sh            (as root, or with sudo available)
set -euo pipefail

PACKAGES=(
  bazel-bootstrap        # Bazel 4.2.3, /usr/bin/bazel
  bazel-rules-java       # @rules_java as a local_repository (offline)
  g++                    # the C++ toolchain Bazel autodetects
  libabsl-dev            # abseil-cpp 20220623
  libprotobuf-dev        # protobuf runtime + well-known .proto files
  protobuf-compiler      # protoc, wrapped as @com_google_protobuf//:protoc
  libgoogle-glog-dev     # glog (+ gflags)
  libgtest-dev           # GoogleTest
  libgmock-dev           # GoogleMock
  libbenchmark-dev       # Google Benchmark
  libpq-dev              # libpq 15
  libssl-dev             # OpenSSL's libcrypto: SHA-256 (qg/internal/sha256.h)
  rapidjson-dev          # RapidJSON 1.1.0 (header-only): the args JSON check
  postgresql-15          # initdb/postgres for the throwaway test server
  pgbouncer              # PgBouncer 1.18: qg/deploy's pooler tests
  openssl                # the TLS test's CA and server certificate
  clang-format           # tools/lint
  clang                  # the thread-safety build (--config=clang, .ci/run)
  tzdata                 # /usr/share/zoneinfo, for //qg:schedule's zones
  libcpp-httplib-dev     # cpp-httplib 0.11.4: the console's HTTP server
  chromium               # the console's browser test (driven by playwright-core)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# npm installs @bazel/buildifier for tools/lint. Machines of this kind ship
# Node.js with npm; Debian's npm package conflicts with that nodejs, so it is
# only installed where no npm exists at all.
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# buildifier (for tools/lint) comes from the npm registry; install it into a
# project-local prefix so nothing global changes.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILDIFIER_DIR="$ROOT/.tools/buildifier"
if [ ! -x "$BUILDIFIER_DIR/node_modules/.bin/buildifier" ]; then
  echo "setup: installing @bazel/buildifier into .tools/" >&2
  mkdir -p "$BUILDIFIER_DIR"
  npm install --silent --no-audit --no-fund --prefix "$BUILDIFIER_DIR" @bazel/buildifier@6.4.0 >/dev/null
fi

# playwright-core (for the console's browser test, //qg/console:browser_test)
# drives Debian's chromium through executablePath: the package downloads no
# browser of its own. Project-local, like buildifier.
PLAYWRIGHT_DIR="$ROOT/.tools/playwright"
if [ ! -f "$PLAYWRIGHT_DIR/node_modules/playwright-core/package.json" ]; then
  echo "setup: installing playwright-core into .tools/" >&2
  mkdir -p "$PLAYWRIGHT_DIR"
  npm install --silent --no-audit --no-fund --prefix "$PLAYWRIGHT_DIR" playwright-core@1.65.1 >/dev/null
fi
