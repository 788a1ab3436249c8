package registry

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// An image as an engine exports it is not reproducible: the config's "created" and every history
// entry carry the time its layers were built, and directories a build creates (WORKDIR, COPY's
// parents) carry the time it ran. Reproducible rewrites what a build made so that the same inputs
// give the same digest on any engine, cold or warm, as BuildKit's rewrite-timestamp does:
//   - in every layer the build made, every entry's time becomes epoch (not only the later ones: an
//     engine may hand back an earlier build of the same content whose files carry other times),
//     headers are written in one canonical form (no access/change times, no user or group names)
//     and the layer is compressed again by this code (gzip, default level), so the compressor of
//     the engine no longer matters;
//   - the base image's layers ("pulled from …" in the history) are kept byte for byte;
//   - the config's created and every history time become epoch.
//
// dir holds the image (or the multi-platform index) as an OCI layout; temporary layer files are
// written there too. The result is an image (one platform) or an index (several).
func Reproducible(dir string, epoch time.Time) (Artifact, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return Artifact{}, fmt.Errorf("reading the exported image: %w", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return Artifact{}, fmt.Errorf("reading the exported image: %w", err)
	}
	// A multi-platform export holds one index whose manifests are the platforms.
	if len(m.Manifests) == 1 && m.Manifests[0].MediaType.IsIndex() {
		if idx, err = idx.ImageIndex(m.Manifests[0].Digest); err != nil {
			return Artifact{}, fmt.Errorf("reading the exported image index: %w", err)
		}
		if m, err = idx.IndexManifest(); err != nil {
			return Artifact{}, fmt.Errorf("reading the exported image index: %w", err)
		}
	}
	var out []mutate.IndexAddendum
	for i, d := range m.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return Artifact{}, fmt.Errorf("reading the exported image %s: %w", d.Digest, err)
		}
		canon, err := reproducibleImage(img, epoch, filepath.Join(dir, fmt.Sprintf("canonical-%d", i)))
		if err != nil {
			return Artifact{}, err
		}
		desc := v1.Descriptor{Platform: d.Platform}
		out = append(out, mutate.IndexAddendum{Add: canon, Descriptor: desc})
	}
	switch len(out) {
	case 0:
		return Artifact{}, errors.New("the exported image holds no image")
	case 1:
		return Artifact{Image: out[0].Add.(v1.Image)}, nil
	}
	return Artifact{Index: mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), out...)}, nil
}

// Artifact is what gets pushed: one image, or an index of one image per platform.
type Artifact struct {
	Image v1.Image
	Index v1.ImageIndex
}

// Digest is the manifest (or index) digest the registry will report.
func (a Artifact) Digest() (string, error) {
	var h v1.Hash
	var err error
	if a.Index != nil {
		h, err = a.Index.Digest()
	} else {
		h, err = a.Image.Digest()
	}
	return h.String(), err
}

// Labels of the artifact's (first) image.
func (a Artifact) Labels() (map[string]string, error) {
	img := a.Image
	if a.Index != nil {
		m, err := a.Index.IndexManifest()
		if err != nil {
			return nil, err
		}
		if img, err = a.Index.Image(m.Manifests[0].Digest); err != nil {
			return nil, err
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	return cfg.Config.Labels, nil
}

func reproducibleImage(img v1.Image, epoch time.Time, tmp string) (v1.Image, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	mf, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the image manifest: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	// History entries that are not empty layers map, in order, to the layers.
	var pulled []bool
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			pulled = append(pulled, strings.HasPrefix(h.CreatedBy, "pulled from "))
		}
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	canon := mutate.ConfigMediaType(mutate.MediaType(empty.Image, mf.MediaType), mf.Config.MediaType)
	var adds []mutate.Addendum
	diffIDs := make([]v1.Hash, 0, len(layers))
	for i, l := range layers {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		if i < len(pulled) && pulled[i] {
			// Kept byte for byte, so its diffID is the one the config lists: read there, not
			// computed by decompressing the layer again (go-containerregistry would: about 90 %
			// of this step's CPU with a 140 MB base image).
			if i >= len(cfg.RootFS.DiffIDs) {
				return nil, fmt.Errorf("the image config lists %d layer diffIDs for %d layers", len(cfg.RootFS.DiffIDs), len(layers))
			}
			adds = append(adds, mutate.Addendum{Layer: knownDiffID{Layer: l, diffID: cfg.RootFS.DiffIDs[i]}, MediaType: mt})
		} else {
			if l, err = clampLayer(l, epoch, filepath.Join(tmp, fmt.Sprintf("layer-%d.tar.gz", i))); err != nil {
				return nil, fmt.Errorf("layer %d: %w", i, err)
			}
			adds = append(adds, mutate.Addendum{Layer: l, MediaType: types.OCILayer})
		}
		d, err := adds[i].Layer.DiffID()
		if err != nil {
			return nil, err
		}
		diffIDs = append(diffIDs, d)
	}
	if canon, err = mutate.Append(canon, adds...); err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: epoch}
	for i := range cfg.History {
		cfg.History[i].Created = v1.Time{Time: epoch}
	}
	cfg.RootFS.DiffIDs = diffIDs
	return mutate.ConfigFile(canon, cfg)
}

// knownDiffID is a layer whose diffID is already known (from its image's config).
type knownDiffID struct {
	v1.Layer
	diffID v1.Hash
}

func (k knownDiffID) DiffID() (v1.Hash, error) { return k.diffID, nil }

// Descriptor keeps what the wrapped layer says of itself (annotations, URLs), if anything.
func (k knownDiffID) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(k.Layer) }

// clampLayer writes l again in canonical form, every time epoch, into path.
func clampLayer(l v1.Layer, epoch time.Time, path string) (v1.Layer, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	tr, tw := tar.NewReader(rc), tar.NewWriter(zw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		hdr.ModTime = epoch.Truncate(time.Second)
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Uname, hdr.Gname = "", ""
		hdr.Format = tar.FormatPAX
		// Keep extended attributes and whiteout markers; drop PAX times the format would carry.
		for k := range hdr.PAXRecords {
			if k == "atime" || k == "ctime" || k == "mtime" {
				delete(hdr.PAXRecords, k)
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
}

// Push writes the artifact to repo:tag (blobs the repository has are not sent again) and
// returns its digest.
func (c *Client) Push(ctx context.Context, repo, tag string, a Artifact) (string, error) {
	ref, err := c.tag(repo, tag)
	if err != nil {
		return "", err
	}
	opts := append(c.options(ctx),
		// Blob uploads stream their bodies, so the transport cannot replay them: retry whole uploads.
		remote.WithRetryBackoff(remote.Backoff{Duration: c.Backoff, Factor: 2, Jitter: 0.1, Steps: c.Attempts}),
		remote.WithJobs(4))
	if a.Index != nil {
		err = remote.WriteIndex(ref, a.Index, opts...)
	} else {
		err = remote.Write(ref, a.Image, opts...)
	}
	if err != nil {
		return "", c.explain(fmt.Sprintf("pushing %s/%s:%s", c.Host, repo, tag), err)
	}
	return a.Digest()
}
