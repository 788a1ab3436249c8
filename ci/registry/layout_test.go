package registry

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// readsBack reads every layer of the artifact's images from its layout, checking each digest.
func readsBack(a Artifact) error {
	imgs := []v1.Image{a.Image}
	if a.Index != nil {
		m, err := a.Index.IndexManifest()
		if err != nil {
			return err
		}
		imgs = nil
		for _, d := range m.Manifests {
			img, err := a.Index.Image(d.Digest)
			if err != nil {
				return err
			}
			imgs = append(imgs, img)
		}
	}
	for _, img := range imgs {
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			want, _ := l.Digest()
			rc, err := l.Compressed()
			if err != nil {
				return fmt.Errorf("layer %s: %v", want, err)
			}
			h, _, err := v1.SHA256(rc)
			rc.Close()
			if err != nil || h != want {
				return fmt.Errorf("layer %s reads back as %s (%v)", want, h, err)
			}
		}
	}
	return nil
}

// tarDir writes dir as a tarball, as the engine exports an OCI layout.
func tarDir(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	defer tw.Close()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, _ := d.Info()
		hdr, _ := tar.FileInfoHeader(info, "")
		hdr.Name = rel
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// The cached step's output reads back as the very artifact (same digest), for an image and for an
// index; a tarball of another revision is refused, naming both.
func TestReproduceTarballWritesWhatLoadArtifactReads(t *testing.T) {
	base, _ := random.Layer(1024, types.OCILayer)
	epoch := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for _, platforms := range []int{1, 2} {
		var digests []string
		for _, built := range []time.Time{time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 11, 30, 3, 4, 5, 0, time.UTC)} {
			tb := tarDir(t, exported(t, base, built, platforms))
			out := t.TempDir()
			d, err := ReproduceTarball(tb, out, epoch, "abc")
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(out, "digest")); strings.TrimSpace(string(b)) != d {
				t.Errorf("digest file %q, returned %q", b, d)
			}
			if _, err := os.Stat(filepath.Join(out, "work")); !os.IsNotExist(err) {
				t.Errorf("the work folder is left in the output: %v", err)
			}
			// The base layer is kept byte for byte: not written again, read from the export.
			bd, _ := base.Digest()
			baseBlob := filepath.Join(out, "layout", "blobs", bd.Algorithm, bd.Hex)
			if _, err := os.Stat(baseBlob); !os.IsNotExist(err) {
				t.Errorf("%d platform(s): the base layer was written again into the layout (%v)", platforms, err)
			}
			if err := FillFromExport(tb, filepath.Join(out, "layout")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(baseBlob); err != nil {
				t.Errorf("%d platform(s): the base layer is not filled in from the export: %v", platforms, err)
			}
			a, err := LoadArtifact(filepath.Join(out, "layout"))
			if err != nil {
				t.Fatal(err)
			}
			if err := readsBack(a); err != nil {
				t.Errorf("%d platform(s): %v", platforms, err)
			}
			if got, _ := a.Digest(); got != d {
				t.Errorf("%d platform(s): loaded %s, wrote %s", platforms, got, d)
			}
			if (a.Index != nil) != (platforms > 1) {
				t.Errorf("%d platform(s): loaded index %v image %v", platforms, a.Index != nil, a.Image != nil)
			}
			digests = append(digests, d)
		}
		if digests[0] != digests[1] {
			t.Errorf("%d platform(s): two build times gave %v", platforms, digests)
		}
	}
	_, err := ReproduceTarball(tarDir(t, exported(t, base, epoch, 1)), t.TempDir(), epoch, "def")
	if err == nil || !strings.Contains(err.Error(), `revision "abc", want "def"`) {
		t.Errorf("another revision: %v", err)
	}
	if _, err := ReproduceTarball(filepath.Join(t.TempDir(), "missing.tar"), t.TempDir(), epoch, "abc"); err == nil || !strings.Contains(err.Error(), "missing.tar") {
		t.Errorf("a missing tarball: %v", err)
	}
}
