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
	lay := filepath.Join(outDir, "layout")
	p, err := layout.Write(lay, empty.Index)
	if err != nil {
		return "", err
	}
	// The blobs kept from the export (the base image's layers, byte for byte) are not written
	// again: the layout would hold a second copy of the base image in the engine's cache for every
	// build (~140 MB a publish of the JRE image). They are linked in so that the writer skips
	// them, and unlinked after; FillFromExport puts them back from the export before a push.
	kept, err := linkBlobs(filepath.Join(work, "blobs"), filepath.Join(lay, "blobs"))
	if err != nil {
		return "", fmt.Errorf("writing the reproducible image: %w", err)
	}
	if art.Index != nil {
		err = p.AppendIndex(art.Index)
	} else {
		err = p.AppendImage(art.Image)
	}
	if err != nil {
		return "", fmt.Errorf("writing the reproducible image: %w", err)
	}
	for _, f := range kept {
		if err := os.Remove(f); err != nil {
			return "", fmt.Errorf("writing the reproducible image: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(outDir, "digest"), []byte(digest+"\n"), 0o644); err != nil {
		return "", err
	}
	return digest, nil
}

// linkBlobs hard-links every blob file under src (ALG/HEX) to the same name under dst and
// returns the links it made.
func linkBlobs(src, dst string) ([]string, error) {
	algs, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var made []string
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(src, a.Name()))
		if err != nil {
			return made, err
		}
		if err := os.MkdirAll(filepath.Join(dst, a.Name()), 0o755); err != nil {
			return made, err
		}
		for _, f := range files {
			to := filepath.Join(dst, a.Name(), f.Name())
			if !f.Type().IsRegular() {
				continue
			}
			if err := os.Link(filepath.Join(src, a.Name(), f.Name()), to); err != nil {
				return made, err
			}
			made = append(made, to)
		}
	}
	return made, nil
}

// FillFromExport copies into layoutDir the blobs of the engine's export (an OCI layout tarball)
// that layoutDir lacks: those ReproduceTarball kept byte for byte and did not write again.
func FillFromExport(tarPath, layoutDir string) error {
	err := walkTar(tarPath, func(name string, hdr *tar.Header, r io.Reader) error {
		parts := strings.Split(filepath.ToSlash(name), "/")
		if hdr.Typeflag != tar.TypeReg || len(parts) != 3 || parts[0] != "blobs" {
			return nil
		}
		to := filepath.Join(layoutDir, name)
		if _, err := os.Stat(to); err == nil {
			return nil
		}
		return writeFile(to, r)
	})
	if err != nil {
		return fmt.Errorf("reading the engine's export %s: %w", tarPath, err)
	}
	return nil
}

// LoadArtifact reads back the artifact ReproduceTarball wrote into layoutDir (after
// FillFromExport: the blobs kept from the export are not in it).
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
	return walkTar(tarPath, func(name string, hdr *tar.Header, r io.Reader) error {
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			return os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			return writeFile(p, r)
		}
		return nil
	})
}

// walkTar calls fn with each entry of the tarball at tarPath, its name cleaned and refused if it
// would leave the folder it is extracted into.
func walkTar(tarPath string, fn func(name string, hdr *tar.Header, r io.Reader) error) error {
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
		if err := fn(name, hdr, tr); err != nil {
			return err
		}
	}
}

// writeFile writes r to path, making its folder.
func writeFile(path string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, r); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
