package registry

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// exported builds an OCI layout like an engine's export of one build: a base layer pulled from a
// registry, then a layer the build made at buildTime (a WORKDIR at build time, a file at epoch).
func exported(t testing.TB, base v1.Layer, buildTime time.Time, platforms int) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "opt/cockpit/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: buildTime, Uname: "root"})
	body := []byte("the jar")
	tw.WriteHeader(&tar.Header{Name: "opt/cockpit/app.jar", Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0), AccessTime: buildTime, Format: tar.FormatPAX})
	tw.Write(body)
	tw.Close()
	built, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		mutate.Addendum{Layer: base, History: v1.History{CreatedBy: "pulled from docker.io/library/busybox:1.37.0", Created: v1.Time{Time: buildTime.Add(-time.Hour)}}},
		mutate.Addendum{Layer: built, History: v1.History{CreatedBy: "[2/2] COPY app.jar ./", Created: v1.Time{Time: buildTime}}})
	if err != nil {
		t.Fatal(err)
	}
	img, _ = mutate.CreatedAt(img, v1.Time{Time: buildTime})
	img, _ = mutate.Config(img, v1.Config{Labels: map[string]string{"org.opencontainers.image.revision": "abc"}})
	dir := t.TempDir()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	if platforms == 1 {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Annotations: map[string]string{"org.opencontainers.image.created": buildTime.Format(time.RFC3339)}}})
	} else {
		inner := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, arch := range []string{"amd64", "arm64"}[:platforms] {
			inner = mutate.AppendManifests(inner, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: inner})
	}
	if _, err := layout.Write(dir, idx); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Two builds of the same inputs at different times give one digest; the base layer is untouched.
func TestReproducibleSameInputsSameDigest(t *testing.T) {
	base, _ := random.Layer(2048, types.OCILayer)
	baseDigest, _ := base.Digest()
	baseDiffID, _ := base.DiffID()
	epoch := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for _, platforms := range []int{1, 2} {
		var digests []string
		for _, built := range []time.Time{time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 3, 4, 5, 6, time.UTC)} {
			a, err := Reproducible(exported(t, base, built, platforms), epoch)
			if err != nil {
				t.Fatal(err)
			}
			d, err := a.Digest()
			if err != nil {
				t.Fatal(err)
			}
			digests = append(digests, d)
			img := a.Image
			if platforms > 1 {
				if a.Index == nil {
					t.Fatalf("%d platforms gave no index", platforms)
				}
				m, _ := a.Index.IndexManifest()
				if len(m.Manifests) != platforms || m.Manifests[1].Platform.Architecture != "arm64" {
					t.Fatalf("index manifests = %+v", m.Manifests)
				}
				img, _ = a.Index.Image(m.Manifests[0].Digest)
			}
			layers, _ := img.Layers()
			if d, _ := layers[0].Digest(); d != baseDigest {
				t.Errorf("the base layer changed: %s, want %s", d, baseDigest)
			}
			cfg, _ := img.ConfigFile()
			// The base layer's diffID comes from the export's config (it is not decompressed).
			if got, _ := layers[0].DiffID(); got != baseDiffID || cfg.RootFS.DiffIDs[0] != baseDiffID {
				t.Errorf("the base layer's diffID: layer %s, config %s; want %s", got, cfg.RootFS.DiffIDs[0], baseDiffID)
			}
			if !cfg.Created.Time.Equal(epoch) || !cfg.History[1].Created.Time.Equal(epoch) || cfg.Config.Labels["org.opencontainers.image.revision"] != "abc" {
				t.Errorf("config created %v, history %v, labels %v", cfg.Created, cfg.History, cfg.Config.Labels)
			}
			rc, _ := layers[1].Uncompressed()
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				if !h.ModTime.Equal(epoch) || !h.AccessTime.IsZero() || h.Uname != "" {
					t.Errorf("%s: mtime %v atime %v uname %q, want none later than %v", h.Name, h.ModTime, h.AccessTime, h.Uname, epoch)
				}
			}
		}
		if digests[0] != digests[1] {
			t.Errorf("%d platform(s): builds at two times gave %s and %s", platforms, digests[0], digests[1])
		}
	}
}

// BenchmarkReproducibleBigBaseLayer: an export whose pulled base layer is 32 MB (the test bed's
// JRE is 138 MB). The base layer is carried, not decompressed: its diffID is the config's.
func BenchmarkReproducibleBigBaseLayer(b *testing.B) {
	base, err := random.Layer(32<<20, types.OCILayer)
	if err != nil {
		b.Fatal(err)
	}
	dir := exported(b, base, time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC), 1)
	epoch := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	b.ResetTimer()
	for range b.N {
		a, err := Reproducible(dir, epoch)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Digest(); err != nil {
			b.Fatal(err)
		}
	}
}
