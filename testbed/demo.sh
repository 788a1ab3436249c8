#!/usr/bin/env bash
# demo.sh: the nightly so far, on the fixture product with the module's embedded defaults; only
# where the servers are (the test bed's Maven repository and "Docker Hub") comes from the test bed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
run() { echo "+ dagger call $*" >&2; dagger call --progress=plain "$@" 2>/dev/null; echo; }
commit=$(git rev-parse HEAD 2>/dev/null || echo 27da477287db9c19aa1b2c3d4e5f60718293a4b5)
export DEMO_MAVEN_PASSWORD DEMO_HUB_PASSWORD
DEMO_MAVEN_PASSWORD=$(cat "$NIGHTLY_TESTBED_MAVEN_PASSWORD_FILE")
DEMO_HUB_PASSWORD=$(cat "$NIGHTLY_TESTBED_HUB_PASSWORD_FILE")

run version nightly-tag
run toolchain
# 1. mvn clean test
run test
# 2. mvn clean deploy of the SNAPSHOTs
run deploy --repository-url="http://maven-repo:$NIGHTLY_TESTBED_MAVEN_PORT/maven/snapshots" \
  --repository-service="tcp://localhost:$NIGHTLY_TESTBED_MAVEN_PORT" \
  --username=env:NIGHTLY_TESTBED_MAVEN_USER --password=env:DEMO_MAVEN_PASSWORD \
  artifacts coordinates
# 3 + 4. build contexts, then lint every Dockerfile, versioned and prepared. The module's default
# linter is hadolint, whose image cannot be obtained here: the test bed uses BuildKit's checks.
run --linter=buildkit lint
# 5. build the images, push under the commit tag, promote to X.Y.Z-nightly (lint gates it)
run --linter=buildkit publish --commit="$commit" --registry="$NIGHTLY_TESTBED_HUB/graviteeio" \
  --username=env:NIGHTLY_TESTBED_HUB_USER --password=env:DEMO_HUB_PASSWORD \
  --registry-service="tcp://localhost:${NIGHTLY_TESTBED_HUB##*:}" images moves
echo "demo: done" >&2
