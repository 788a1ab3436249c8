package registry

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// RevisionLabel is the OCI label that names the commit an image was built from.
const RevisionLabel = "org.opencontainers.image.revision"

// ReproduceTarball reads an engine's export of a build (an OCI layout as a tarball), makes it
// reproducible (Reproducible) and checks that it is the build of revision. It writes the artifact
// as an OCI layout into outDir/layout and its digest into outDir/digest, and returns the digest.
// It is a pure function of its inputs, so a container step running it can be cached.
func ReproduceTarball(tarPath, outDir string, epoch time.Time, revision string) (string, error) {
	work := filepath.Join(outDir, "work")
	defer os.RemoveAll(work)
	if err := Untar(tarPath, work); err != nil {
		return "", fmt.Errorf("reading the built image %s: %w", tarPath, err)
	}
	art, err := Reproducible(work, epoch)
	if err != nil {
		return "", err
	}
	labels, err := art.Labels()
	if err != nil {
		return "", err
	}
	if got := labels[RevisionLabel]; got != revision {
		return "", fmt.Errorf("the engine exported an image of revision %q, want %q", got, revision)
	}
	digest, err := art.Digest()
	if err != nil {
		return "", err
	}
	p, err := layout.Write(filepath.Join(outDir, "layout"), empty.Index)
	if err != nil {
		return "", err
	}
	if art.Index != nil {
		err = p.AppendIndex(art.Index)
	} else {
		err = p.AppendImage(art.Image)
	}
	if err != nil {
		return "", fmt.Errorf("writing the reproducible image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(outDir, "digest"), []byte(digest+"\n"), 0o644); err != nil {
		return "", err
	}
	return digest, nil
}

// LoadArtifact reads back the artifact ReproduceTarball wrote into layoutDir.
func LoadArtifact(layoutDir string) (Artifact, error) {
	idx, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading the reproducible image: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return Artifact{}, fmt.Errorf("reading the reproducible image: %w", err)
	}
	if len(m.Manifests) != 1 {
		return Artifact{}, fmt.Errorf("the reproducible image's layout holds %d manifests, want 1", len(m.Manifests))
	}
	d := m.Manifests[0]
	if d.MediaType.IsIndex() {
		inner, err := idx.ImageIndex(d.Digest)
		return Artifact{Index: inner}, err
	}
	img, err := idx.Image(d.Digest)
	return Artifact{Image: img}, err
}

// Untar extracts an OCI layout tarball (regular files and folders only) into dir.
func Untar(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(hdr.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("unexpected path %q in the image tarball", hdr.Name)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.Create(p)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
