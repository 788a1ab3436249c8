#!/usr/bin/env bash
# Builds the images the test bed serves, from Debian packages only, into OCI layouts under
# $NIGHTLY_CACHE/images. Each image is rebuilt only when this script (or its inputs) changed.
#   go-sdk     the engine's built-in Go SDK runtime (Debian + the host's Go + our codegen), also
#              served as docker.io/library/golang:1.26.8-bookworm
#   busybox    served as docker.io/library/busybox:1.37.0
#   ShellCheck image: served as docker.io/koalaman/shellcheck-alpine:v0.10.0 (Debian's ShellCheck 0.9)
#   git        served as docker.io/alpine/git:v2.49.1 (Debian's git 2.39 + ca-certificates; a POSIX
#              shell, base64, sed and cut, as the GitOps stage needs)
#   maven      served as docker.io/library/maven:3.9.9-eclipse-temurin-17 (Debian's Maven 3.8.7 +
#              OpenJDK 17 + Debian's Maven plugins, resolving offline from /usr/share/maven-repo)
#   jre        served as docker.io/library/eclipse-temurin:17.0.13_11-jre (Debian's OpenJDK 17 JRE,
#              headless, at /opt/java/openjdk with JAVA_HOME and PATH as the real image sets them)
# mmdebstrap hooks expand "$1" (the chroot) themselves.
# shellcheck disable=SC2016
# shellcheck source=testbed/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MKIMAGE=$NIGHTLY_CACHE/bin/mkimage
mkdir -p "$IMAGES_DIR" "$NIGHTLY_CACHE/bin"
(cd "$TB_ROOT/testbed" && go build -o "$MKIMAGE" ./mkimage)

# Debian mirrors come from the host's own apt configuration.
SOURCES=/etc/apt/sources.list.d/debian.sources
[ -f "$SOURCES" ] || SOURCES=/etc/apt/sources.list
DEBOPTS=(--mode=root --variant=minbase --format=tar
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  # JDK postinsts need man1 to exist even when man pages are excluded.
  --setup-hook='mkdir -p "$1"/usr/share/man/man1'
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*')

# An image's cache key: its builder's code (declare -f drops comments), the shared mmdebstrap
# options and mkimage's source, so editing anything else here rebuilds nothing.
recipe_key() { key_of <(declare -f "$1") <(printf '%s\n' "${DEBOPTS[@]}") "$TB_ROOT/testbed/mkimage/main.go"; }

build_busybox() {
  local out=$IMAGES_DIR/busybox key
  key=$(recipe_key build_busybox)-$(dpkg-query -W -f='${Version}' busybox-static)
  if stamp_ok img-busybox "$key"; then log "image busybox: cached"; return; fi
  log "image busybox: building"
  local tmp; tmp=$(mktemp -d)
  mkdir -p "$tmp/root/bin" "$tmp/root/etc" "$tmp/root/tmp" "$tmp/root/root"
  cp /bin/busybox "$tmp/root/bin/busybox"
  local applet
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$tmp/root/bin/$applet"
  done
  chmod 1777 "$tmp/root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$tmp/root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$tmp/root/etc/group"
  repro_tar "$tmp/root" "$tmp/layer.tar"
  rm -rf "$out"
  "$MKIMAGE" layout -out "$out" -tag busybox -layer "$tmp/layer.tar" \
    -env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin -cmd sh >/dev/null
  rm -rf "$tmp"
  stamp_set img-busybox "$key"
  log "image busybox: built"
}

# debian_image NAME INCLUDE [mmdebstrap hooks...] -- [mkimage layout args...]: a Debian minbase
# image with the packages INCLUDE (comma-separated), as the OCI layout $IMAGES_DIR/NAME.
debian_image() {
  local name=$1 include=$2; shift 2
  local hooks=()
  while [ "$1" != -- ]; do hooks+=("$1"); shift; done
  shift
  local tmp; tmp=$(mktemp -d)
  mmdebstrap "${DEBOPTS[@]}" --include="$include" "${hooks[@]}" \
    bookworm "$tmp/rootfs.tar" "$SOURCES" >"$tmp/log" 2>&1 || { tail -30 "$tmp/log"; die "mmdebstrap ($name) failed"; }
  rm -rf "${IMAGES_DIR:?}/$name"
  "$MKIMAGE" layout -out "$IMAGES_DIR/$name" -tag "$name" -layer "$tmp/rootfs.tar" \
    -env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" >/dev/null
  rm -rf "$tmp"
}

build_maven() {
  local key
  key=$(recipe_key build_maven)-$(recipe_key debian_image)
  if stamp_ok img-maven "$key"; then log "image maven: cached"; return; fi
  log "image maven: building with mmdebstrap (about 2-3 min)"
  # Maven 3.8.7 adds plexus-utils 1.1 to every plugin; Debian ships only 2.x: serve 2.x as 1.1.
  # The global settings mirror every repository to Debian's local one, so builds need no network
  # (the public image reaches Maven Central instead).
  debian_image maven \
    openjdk-17-jdk-headless,maven,libmaven-clean-plugin-java,libmaven-resources-plugin-java,libmaven-compiler-plugin-java,libsurefire-java,libmaven-jar-plugin-java,libmaven-install-plugin-java,libmaven-deploy-plugin-java,junit4,junit5 \
    --customize-hook='d="$1"/usr/share/maven-repo/org/codehaus/plexus/plexus-utils; mkdir -p "$d/1.1"; cp "$d/2.x/plexus-utils-2.x.jar" "$d/1.1/plexus-utils-1.1.jar"; sed "0,/<version>2.x<\/version>/s//<version>1.1<\/version>/" "$d/2.x/plexus-utils-2.x.pom" >"$d/1.1/plexus-utils-1.1.pom"' \
    --customize-hook='cat >"$1"/etc/maven/settings.xml <<XML
<settings>
  <mirrors>
    <mirror><id>debian-offline</id><mirrorOf>*</mirrorOf><url>file:///usr/share/maven-repo</url></mirror>
  </mirrors>
  <!-- Debian'"'"'s repository has no checksum files: do not warn about each one. -->
  <profiles>
    <profile>
      <id>debian-offline</id>
      <repositories><repository><id>central</id><url>https://repo.maven.apache.org/maven2</url>
        <releases><checksumPolicy>ignore</checksumPolicy></releases><snapshots><enabled>false</enabled></snapshots>
      </repository></repositories>
      <pluginRepositories><pluginRepository><id>central</id><url>https://repo.maven.apache.org/maven2</url>
        <releases><checksumPolicy>ignore</checksumPolicy></releases><snapshots><enabled>false</enabled></snapshots>
      </pluginRepository></pluginRepositories>
    </profile>
  </profiles>
  <activeProfiles><activeProfile>debian-offline</activeProfile></activeProfiles>
</settings>
XML' \
    -- -env JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 -env MAVEN_HOME=/usr/share/maven -cmd mvn
  stamp_set img-maven "$key"
  log "image maven: built"
}

# The management API's runtime: a JRE only, as the real image is. Its size matters to every test
# that publishes: each push to a fresh namespace uploads the base layers, and the engine exports,
# hashes and tunnels them (the whole Maven image served here before, ~270 MB against ~80).
build_jre() {
  local out=$IMAGES_DIR/jre key
  key=$(recipe_key build_jre)
  if stamp_ok img-jre "$key"; then log "image jre: cached"; return; fi
  log "image jre: building with mmdebstrap (about 1-2 min)"
  # Not debian_image: its PATH would come first, and this image's starts with the JRE's own.
  local tmp; tmp=$(mktemp -d)
  mmdebstrap "${DEBOPTS[@]}" --include=openjdk-17-jre-headless \
    --customize-hook='mkdir -p "$1"/opt/java; ln -s /usr/lib/jvm/java-17-openjdk-amd64 "$1"/opt/java/openjdk' \
    bookworm "$tmp/rootfs.tar" "$SOURCES" >"$tmp/log" 2>&1 || { tail -30 "$tmp/log"; die "mmdebstrap (jre) failed"; }
  rm -rf "$out"
  "$MKIMAGE" layout -out "$out" -tag jre -layer "$tmp/rootfs.tar" -env JAVA_HOME=/opt/java/openjdk \
    -env PATH=/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
  rm -rf "$tmp"
  stamp_set img-jre "$key"
  log "image jre: built"
}

build_shellcheck() {
  local key
  key=$(recipe_key build_shellcheck)-$(recipe_key debian_image)
  if stamp_ok img-shellcheck "$key"; then log "image shellcheck: cached"; return; fi
  log "image shellcheck: building with mmdebstrap (about 1 min)"
  debian_image shellcheck shellcheck --
  stamp_set img-shellcheck "$key"
  log "image shellcheck: built"
}

build_git() {
  local key
  key=$(recipe_key build_git)-$(recipe_key debian_image)
  if stamp_ok img-git "$key"; then log "image git: cached"; return; fi
  log "image git: building with mmdebstrap (about 1 min)"
  debian_image git git,ca-certificates -- -cmd git -cmd --help
  stamp_set img-git "$key"
  log "image git: built"
}

# host_custom_cas prints the host's custom CA certificates (update-ca-certificates' input), if any.
host_custom_cas() {
  local f
  for f in /usr/local/share/ca-certificates/*.crt; do
    if [ -f "$f" ]; then cat "$f"; echo; fi
  done
  return 0
}

build_go_sdk() {
  local out=$IMAGES_DIR/go-sdk key
  key=$(recipe_key build_go_sdk)-$(key_of "$DAGGER_BIN/codegen" <(go version) <(host_custom_cas))
  if stamp_ok img-go-sdk "$key"; then log "image go-sdk: cached"; return; fi
  log "image go-sdk: building (Debian + Go $(go env GOVERSION) + codegen, about 1-3 min)"
  local tmp; tmp=$(mktemp -d)
  mmdebstrap "${DEBOPTS[@]}" --include=git,ca-certificates,openssh-client \
    bookworm "$tmp/base.tar" "$SOURCES" >"$tmp/log" 2>&1 || { tail -30 "$tmp/log"; die "mmdebstrap (go-sdk) failed"; }
  mkdir -p "$tmp/go/usr/local/bin" "$tmp/go/go/pkg/mod" "$tmp/go/root/.cache/go-build"
  cp -a "$(go env GOROOT)" "$tmp/go/usr/local/go"
  cp "$DAGGER_BIN/codegen" "$tmp/go/usr/local/bin/codegen"
  # The host's own CA certificates (a TLS-inspecting egress proxy's, say), added to the image's
  # bundle: Go module downloads in this image are the only traffic of the engine's containers that
  # leaves the machine, and the test bed's engine does not inject them into every container
  # (engine.sh says why).
  if [ -n "$(host_custom_cas)" ]; then
    mkdir -p "$tmp/go/etc/ssl/certs" "$tmp/go/usr/local/share/ca-certificates"
    { tar -xOf "$tmp/base.tar" ./etc/ssl/certs/ca-certificates.crt; host_custom_cas; } >"$tmp/go/etc/ssl/certs/ca-certificates.crt"
    cp /usr/local/share/ca-certificates/*.crt "$tmp/go/usr/local/share/ca-certificates/"
  fi
  repro_tar "$tmp/go" "$tmp/go.tar"
  rm -rf "$out"
  "$MKIMAGE" layout -out "$out" -tag go-sdk -layer "$tmp/base.tar" -layer "$tmp/go.tar" \
    -env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    -env GOPATH=/go -env GOTOOLCHAIN=local >"$out.digest"
  rm -rf "$tmp"
  stamp_set img-go-sdk "$key"
  log "image go-sdk: built"
}

case "${1:-all}" in
  busybox) build_busybox ;;
  maven) build_maven ;;
  jre) build_jre ;;
  shellcheck) build_shellcheck ;;
  git) build_git ;;
  go-sdk) build_go_sdk ;;
  all) build_busybox; build_maven; build_jre; build_shellcheck; build_git; build_go_sdk ;;
  *) die "unknown image ${1}" ;;
esac
