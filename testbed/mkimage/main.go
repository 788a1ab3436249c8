// Command mkimage turns reproducible rootfs tarballs into OCI images for the test bed.
//
//	mkimage layout -out DIR -tag NAME [-layer TAR]... [-env K=V]... [-workdir W] [-cmd ARG]...
//	mkimage push -layout DIR -tag NAME -ref HOST:PORT/REPO:TAG
//
// `layout` writes (or adds to) an OCI image layout and prints the manifest digest; the engine loads
// its Go SDK runtime from such a layout's blobs. `push` copies an image from a layout to a registry
// over plain HTTP (the test bed's registries listen on loopback only). The same inputs always give
// the same digest: layer times are fixed by the tarballs and the config carries no timestamp.
package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

const refNameAnnotation = "org.opencontainers.image.ref.name"

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: mkimage layout|push [flags]"))
	}
	var err error
	switch os.Args[1] {
	case "layout":
		err = cmdLayout(os.Args[2:])
	case "push":
		err = cmdPush(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want layout or push)", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}

func cmdLayout(args []string) error {
	fs := flag.NewFlagSet("layout", flag.ExitOnError)
	out := fs.String("out", "", "OCI layout folder to write or add to")
	tag := fs.String("tag", "", "name of the image inside the layout")
	workdir := fs.String("workdir", "", "working directory")
	var layers, env, cmd list
	fs.Var(&layers, "layer", "uncompressed tar of a layer (repeatable, bottom first)")
	fs.Var(&env, "env", "K=V environment variable (repeatable)")
	fs.Var(&cmd, "cmd", "an argument of the default command (repeatable)")
	_ = fs.Parse(args)
	if *out == "" || *tag == "" || len(layers) == 0 {
		return fmt.Errorf("layout needs -out, -tag and at least one -layer")
	}

	img := empty.Image
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, path := range layers {
		l, err := tarball.LayerFromFile(path,
			tarball.WithMediaType(types.OCILayer),
			tarball.WithCompressionLevel(gzip.BestSpeed))
		if err != nil {
			return fmt.Errorf("reading layer %q: %w", path, err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return fmt.Errorf("adding layer %q: %w", path, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = env
	cf.Config.WorkingDir = *workdir
	cf.Config.Cmd = cmd
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}

	p, err := layout.FromPath(*out)
	if err != nil {
		if p, err = layout.Write(*out, empty.Index); err != nil {
			return fmt.Errorf("creating layout %q: %w", *out, err)
		}
	}
	// Replace any earlier image of the same name, so a rebuild leaves one entry.
	if err := p.RemoveDescriptors(func(d v1.Descriptor) bool { return d.Annotations[refNameAnnotation] == *tag }); err != nil {
		return fmt.Errorf("updating layout %q: %w", *out, err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refNameAnnotation: *tag})); err != nil {
		return fmt.Errorf("writing image %q to layout %q: %w", *tag, *out, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d.String())
	return nil
}

func cmdPush(args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	dir := fs.String("layout", "", "OCI layout folder")
	tag := fs.String("tag", "", "name of the image inside the layout")
	ref := fs.String("ref", "", "destination, e.g. 127.0.0.1:47500/library/busybox:1.37.0")
	_ = fs.Parse(args)
	p, err := layout.FromPath(*dir)
	if err != nil {
		return fmt.Errorf("opening layout %q: %w", *dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		if d.Annotations[refNameAnnotation] != *tag {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		r, err := name.ParseReference(*ref, name.Insecure)
		if err != nil {
			return fmt.Errorf("parsing reference %q: %w", *ref, err)
		}
		if err := remote.Write(r, img); err != nil {
			return fmt.Errorf("pushing %q: %w", *ref, err)
		}
		fmt.Printf("%s@%s\n", *ref, d.Digest)
		return nil
	}
	return fmt.Errorf("no image %q in layout %q", *tag, *dir)
}
