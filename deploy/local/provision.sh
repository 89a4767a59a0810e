#!/usr/bin/env bash
# Installs what the hub needs on a machine without Docker, once, into a cache outside the clone
# (default ~/.cache/crm-hub, override with CRMHUB_CACHE), so every clone on the machine reuses it:
#   - a Python 3.11 virtualenv with requirements-dev.lock (runtime + tools), keyed by the locks' hash;
#   - the Apache Kafka broker jars from Maven Central (KRaft, no ZooKeeper);
#   - a MongoDB-wire server: `mongod` when one is on PATH, otherwise mongo-java-server (H2
#     backend) from Maven Central; FerretDB from the Go module proxy on request (docs/adr/0003).
# Servers named by KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL are used as they are: nothing is fetched.
# A second run finds everything in place and prints what it reuses.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${CRMHUB_CACHE:-$HOME/.cache/crm-hub}
kafka_version=${CRMHUB_KAFKA_VERSION:-4.4.0}
mongo_java_server_version=${CRMHUB_MONGO_JAVA_SERVER_VERSION:-1.47.0}
ferretdb_version=${CRMHUB_FERRETDB_VERSION:-v1.24.2}
python=${CRMHUB_PYTHON:-python3.11}
mkdir -p "$cache"

say() { printf 'provision: %s\n' "$*" >&2; }

# --- Python ------------------------------------------------------------------------------
lock_hash=$(cat "$root/requirements.lock" "$root/requirements-dev.lock" <("$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-12)
venv="$cache/venv-$lock_hash"
if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then
  say "python env reused: $venv"
else
  say "creating python env $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/requirements-dev.lock"
  touch "$venv/.complete"
fi
ln -sfn "$venv" "$root/.venv"

# --- Apache Kafka ---------------------------------------------------------------------------
if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  say "kafka: using $KAFKA_BOOTSTRAP_SERVERS (KAFKA_BOOTSTRAP_SERVERS is set)"
else
  kafka_home="$cache/kafka-$kafka_version"
  if [ -f "$kafka_home/.complete" ]; then
    say "kafka $kafka_version reused: $kafka_home"
  else
    command -v java >/dev/null || { say "java (17+) is needed to run Kafka"; exit 1; }
    command -v mvn >/dev/null || { say "mvn is needed to fetch Kafka from Maven Central"; exit 1; }
    say "fetching kafka $kafka_version jars from Maven Central"
    rm -rf "$kafka_home"
    mkdir -p "$kafka_home"
    mvn -q -B -Dstyle.color=never --no-transfer-progress -f "$here/kafka/pom.xml" -Dkafka.version="$kafka_version" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$kafka_home/libs"
    touch "$kafka_home/.complete"
  fi
fi

# --- MongoDB-wire server --------------------------------------------------------------------
# CRMHUB_MONGO_WIRE picks it: auto (default: mongod on PATH, else mongo-java-server),
# mongod, mongo-java-server, or ferretdb (loses concurrent updates: see docs/adr/0003).
wire=${CRMHUB_MONGO_WIRE:-auto}
if [ "$wire" = auto ]; then
  if command -v mongod >/dev/null; then wire=mongod; else wire=mongo-java-server; fi
fi
if [ -n "${MONGODB_URL:-}" ]; then
  say "mongodb: using the server at MONGODB_URL"
elif [ "$wire" = mongod ]; then
  command -v mongod >/dev/null || { say "CRMHUB_MONGO_WIRE=mongod but no mongod on PATH"; exit 1; }
  say "mongodb: mongod found on PATH ($(command -v mongod))"
elif [ "$wire" = mongo-java-server ]; then
  mjs_home="$cache/mongo-java-server-$mongo_java_server_version"
  if [ -f "$mjs_home/.complete" ]; then
    say "mongo-java-server $mongo_java_server_version reused: $mjs_home"
  else
    command -v javac >/dev/null || { say "javac (JDK 17+) is needed for the MongoDB-wire server"; exit 1; }
    say "fetching mongo-java-server $mongo_java_server_version from Maven Central"
    rm -rf "$mjs_home"
    mkdir -p "$mjs_home"
    mvn -q -B -Dstyle.color=never --no-transfer-progress -f "$here/mongo-wire/pom.xml" -Dmongo-java-server.version="$mongo_java_server_version" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$mjs_home/libs"
    touch "$mjs_home/.complete"
  fi
  # the server's own code and its patch of the library, compiled per version of both (a cached
  # install gets a changed one); localservers.wire_server_hash() names the same directory
  patch_file="$here/mongo-wire/library.patch"
  wire_hash=$(cat "$here/mongo-wire/WireServer.java" "$patch_file" | sha256sum | cut -c1-12)
  classes="$mjs_home/classes-$wire_hash"
  if [ ! -f "$classes/WireServer.class" ]; then
    command -v javac >/dev/null || { say "javac (JDK 17+) is needed for the MongoDB-wire server"; exit 1; }
    say "compiling the MongoDB-wire server ($wire_hash)"
    rm -rf "$classes.tmp" && mkdir -p "$classes.tmp/src"
    javac -quiet -cp "$mjs_home/libs/*" -d "$classes.tmp" "$here/mongo-wire/WireServer.java" 2>/dev/null \
      || javac -cp "$mjs_home/libs/*" -d "$classes.tmp" "$here/mongo-wire/WireServer.java"
    # the library's classes that the patch changes (see its head), compiled ahead of the jar
    patched=()
    while read -r source; do patched+=("$source"); done < <(sed -n 's#^+++ b/##p' "$patch_file")
    mvn -q -B -Dstyle.color=never --no-transfer-progress -f "$here/mongo-wire/pom.xml" -Dmongo-java-server.version="$mongo_java_server_version" \
      dependency:copy -Dartifact="de.bwaldvogel:mongo-java-server-core:$mongo_java_server_version:jar:sources" \
      -DoutputDirectory="$classes.tmp/src" >/dev/null
    (cd "$classes.tmp/src" && jar xf ./*-sources.jar "${patched[@]}")
    if command -v patch >/dev/null; then check="patch -s -p1 --dry-run" apply="patch -s -p1"
    else check="git apply --check" apply="git apply"; fi
    if (cd "$classes.tmp/src" && $check <"$patch_file" >/dev/null 2>&1); then
      (cd "$classes.tmp/src" && $apply <"$patch_file")
      javac -nowarn -cp "$mjs_home/libs/*" -d "$classes.tmp" "${patched[@]/#/$classes.tmp/src/}" \
        2>"$classes.tmp/src/javac.log" || { cat "$classes.tmp/src/javac.log" >&2; exit 1; }
    else
      say "mongo-java-server $mongo_java_server_version: library.patch does not apply; running it unpatched"
    fi
    rm -rf "$classes.tmp/src"
    cp "$here/mongo-wire/simplelogger.properties" "$classes.tmp/"
    rm -rf "$classes" && mv "$classes.tmp" "$classes"
  fi
elif [ "$wire" = ferretdb ]; then
  ferret_home="$cache/ferretdb-$ferretdb_version"
  if [ -x "$ferret_home/ferretdb" ]; then
    say "ferretdb $ferretdb_version reused: $ferret_home/ferretdb"
  else
    command -v go >/dev/null || { say "go is needed to build FerretDB"; exit 1; }
    say "building ferretdb $ferretdb_version (sqlite backend) from the Go module proxy"
    module="github.com/FerretDB/FerretDB@$ferretdb_version"
    src_ro=$(cd "$here" && GOFLAGS=-mod=mod go mod download -json "$module" | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp -r "$src_ro/." "$work/"
    chmod -R u+w "$work"
    # The module zip lacks the generated version files FerretDB embeds; without them it panics at start.
    echo "$ferretdb_version" > "$work/build/version/version.txt"
    echo "crm-hub" > "$work/build/version/package.txt"
    mkdir -p "$ferret_home"
    # Go 1.23+ rejects a //go:linkname use in one of FerretDB's older dependencies.
    (cd "$work" && go build -trimpath -ldflags=-checklinkname=0 -o "$ferret_home/ferretdb.tmp" ./cmd/ferretdb)
    mv "$ferret_home/ferretdb.tmp" "$ferret_home/ferretdb"
  fi
else
  say "unknown CRMHUB_MONGO_WIRE=$wire (auto, mongod, mongo-java-server, ferretdb)"; exit 1
fi

# --- A real OpenID Connect provider for the single sign-on tests (node-oidc-provider, npm) ---
oidc_version=$(sed -n 's/.*"oidc-provider": "\(.*\)".*/\1/p' "$here/oidc/package.json")
oidc_home="$cache/oidc-provider-$oidc_version"
if [ -f "$oidc_home/.complete" ]; then
  say "oidc-provider $oidc_version reused: $oidc_home"
elif command -v npm >/dev/null; then
  say "installing oidc-provider $oidc_version from npm"
  rm -rf "$oidc_home"
  mkdir -p "$oidc_home"
  cp "$here/oidc/package.json" "$oidc_home/"
  (cd "$oidc_home" && npm install --no-audit --no-fund --silent --omit=dev)
  touch "$oidc_home/.complete"
else
  say "npm not found: the single sign-on tests cannot start their OpenID Connect provider"
fi
[ -d "$oidc_home/node_modules" ] && ln -sfn "$oidc_home/node_modules" "$here/oidc/node_modules"
# --- Browser assets the services serve themselves (Swagger UI, AsyncAPI), so /docs and /asyncapi
#     render on a closed network; from npm, keyed by the lock's hash ---------------------------------
assets_src="$root/shared/crmhub/ui_assets"
assets_hash=$(cat "$assets_src/package.json" "$assets_src/package-lock.json" | sha256sum | cut -c1-12)
assets_home="$cache/ui-assets-$assets_hash"
if [ -f "$assets_home/.complete" ]; then
  say "ui assets reused: $assets_home"
elif command -v npm >/dev/null; then
  say "installing ui assets (swagger-ui-dist, @asyncapi/react-component) from npm"
  rm -rf "$assets_home"
  mkdir -p "$assets_home"
  cp "$assets_src/package.json" "$assets_src/package-lock.json" "$assets_home/"
  (cd "$assets_home" && npm ci --no-audit --no-fund --silent --omit=dev)
  touch "$assets_home/.complete"
else
  say "npm not found: /docs and /asyncapi will say their assets are missing"
fi
[ -d "$assets_home/node_modules" ] && ln -sfn "$assets_home/node_modules" "$assets_src/node_modules"

# --- Headless Chromium and pdftotext for the browser tests, Pango for WeasyPrint's PDFs (Debian) ----
if command -v chromium >/dev/null && command -v pdftotext >/dev/null && ldconfig -p | grep -q libpangoft2; then
  say "chromium, pdftotext and pango found"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "installing chromium, poppler-utils and fonts from Debian's packages"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium poppler-utils fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0 >/dev/null) || say "could not install chromium: the browser tests will fail"
else
  say "chromium or pdftotext missing and not root: install the Debian packages chromium and poppler-utils"
fi
say "ready (cache: $cache)"
