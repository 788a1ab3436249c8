#!/usr/bin/env bash
# demo.sh: the whole nightly in one call (`run`) on the fixture product with the module's embedded
# defaults, against the test bed: mvn clean test, mvn clean deploy to its Maven server, the build
# contexts, lint, build + push + promote to its "Docker Hub", the stack config, the GitOps commit to
# a deployment repository on its Gitea, and one pulumi up to its Kubernetes API. Prints the
# Markdown report and exits non-zero when the nightly is red. Only where the servers are (and
# their credentials) comes from the test bed; the module's defaults do the rest. The module's
# default linter is hadolint, whose image cannot be had here: the demo uses BuildKit's checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
commit=$(git rev-parse HEAD 2>/dev/null || echo 27da477287db9c19aa1b2c3d4e5f60718293a4b5)
created=$(git log -1 --format=%cI 2>/dev/null || echo 2026-11-29T00:00:00Z)
maven_port=$NIGHTLY_TESTBED_MAVEN_PORT
hub_port=${NIGHTLY_TESTBED_HUB##*:}
gitea_port=${NIGHTLY_TESTBED_GITEA##*:}
export DEMO_MAVEN_PASSWORD DEMO_HUB_PASSWORD DEMO_GITEA_TOKEN
DEMO_MAVEN_PASSWORD=$(cat "$NIGHTLY_TESTBED_MAVEN_PASSWORD_FILE")
DEMO_HUB_PASSWORD=$(cat "$NIGHTLY_TESTBED_HUB_PASSWORD_FILE")
DEMO_GITEA_TOKEN=$(cat "$NIGHTLY_TESTBED_GITEA_TOKEN_FILE")

# The deployment repository (the seed's gravitee-cockpit-nightly-deployment): made once on the
# test bed's Gitea from fixtures/deployment. The token goes to git as a header, from the environment.
repo=cockpit-nightly-deployment
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: token $DEMO_GITEA_TOKEN" -H 'Content-Type: application/json' \
  -d "{\"name\":\"$repo\",\"private\":true,\"default_branch\":\"master\"}" "http://$NIGHTLY_TESTBED_GITEA/api/v1/user/repos")
if [ "$code" = 201 ]; then
  seed=$(mktemp -d)
  cp -r fixtures/deployment/. "$seed"
  git -C "$seed" init --quiet --initial-branch=master
  git -C "$seed" add -A
  git -C "$seed" -c user.name=demo -c user.email=demo@localhost commit --quiet -m "Deployment repository (fixtures/deployment)"
  GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=http.extraHeader GIT_CONFIG_VALUE_0="Authorization: token $DEMO_GITEA_TOKEN" \
    git -C "$seed" push --quiet "http://$NIGHTLY_TESTBED_GITEA/$NIGHTLY_TESTBED_GITEA_USER/$repo.git" HEAD:refs/heads/master
  rm -rf "$seed"
  sleep 2 # Gitea marks the repository non-empty asynchronously
elif [ "$code" != 409 ]; then
  echo "demo: creating $repo on Gitea: HTTP $code" >&2
  exit 1
fi

out=$(mktemp -d)
report=$out/nightly-report
echo "+ dagger call … run --commit=$commit --created=$created files export --path=$report" >&2
dagger call --progress=plain --linter=buildkit \
  with-snapshot-repository --repository-url="http://maven-repo:$maven_port/maven/snapshots" \
    --repository-service="tcp://localhost:$maven_port" --username=env:NIGHTLY_TESTBED_MAVEN_USER --password=env:DEMO_MAVEN_PASSWORD \
  with-registry --registry="$NIGHTLY_TESTBED_HUB/graviteeio" --registry-service="tcp://localhost:$hub_port" \
    --username=env:NIGHTLY_TESTBED_HUB_USER --password=env:DEMO_HUB_PASSWORD \
  with-deployment --backend-url="postgres://pulumi@state-db:$NIGHTLY_TESTBED_PG_PORT/pulumi?sslmode=disable" \
    --backend-service="tcp://localhost:$NIGHTLY_TESTBED_PG_PORT" --backend-env="file:$NIGHTLY_TESTBED_PULUMI_BACKEND_ENV" \
    --passphrase="file:$NIGHTLY_TESTBED_PULUMI_PASSPHRASE_FILE" --kubeconfig="file:$NIGHTLY_TESTBED_KUBECONFIG" \
    --cluster-service="tcp://localhost:$NIGHTLY_TESTBED_K8S_PORT" \
    --plugin-server="http://pulumi-plugins:$NIGHTLY_TESTBED_PLUGINS_PORT/plugins/" --plugin-service="tcp://localhost:$NIGHTLY_TESTBED_PLUGINS_PORT" \
  with-gitops --repository-url="http://gitea:$gitea_port/$NIGHTLY_TESTBED_GITEA_USER/$repo.git" --forge=gitea \
    --forge-service="tcp://localhost:$gitea_port" --token=env:DEMO_GITEA_TOKEN \
  with-direct-deploy \
  run --commit="$commit" --created="$created" \
  files export --path="$report" >"$out/dagger.log" 2>&1 || { tail -n 40 "$out/dagger.log" >&2; exit 1; }
cat "$report/report.md"
echo "demo: report in $report" >&2
test "$(head -n1 "$report/status")" = passed
