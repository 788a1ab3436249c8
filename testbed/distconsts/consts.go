// Package distconsts is the test bed's own copy of Dagger's engine layout constants.
//
// github.com/dagger/dagger v0.19.10 replaces this module with a folder that its module zip does
// not ship, and the Go module proxy does not serve it. The values describe where our engine keeps
// its files; the test bed lays them out to match (see testbed/engine-up.sh).
package distconsts

const (
	RuncPath       = "/usr/sbin/runc" // Debian's runc package
	DaggerInitPath = "/usr/local/bin/dagger-init"

	EngineContainerName              = "dagger-engine.dev"
	EngineContainerBuiltinContentDir = "/usr/local/share/dagger/content"
	EngineDefaultStateDir            = "/var/lib/dagger"
	DefaultEngineSockAddr            = "unix:///run/dagger/engine.sock"
	EngineCustomCACertsDir           = "/usr/local/share/ca-certificates"

	GoSDKManifestDigestEnvName         = "DAGGER_GO_SDK_MANIFEST_DIGEST"
	PythonSDKManifestDigestEnvName     = "DAGGER_PYTHON_SDK_MANIFEST_DIGEST"
	TypescriptSDKManifestDigestEnvName = "DAGGER_TYPESCRIPT_SDK_MANIFEST_DIGEST"

	OCIVersionAnnotation = "org.opencontainers.image.version"

	AlpineVersion = "3.22.2"
	AlpineImage   = "alpine:" + AlpineVersion
	BusyboxImage  = "busybox:1.37.0"
	GolangImage   = "golang:1.25-alpine"
)
