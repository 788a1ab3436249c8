// Command nightly-reproduce makes an engine's export of a build reproducible, in a container step
// the engine caches (see registry.ReproduceTarball): the same build gives the same digest, and a
// warm re-run reads it back instead of exporting and rewriting the image again.
//
//	nightly-reproduce --epoch=RFC3339 --revision=COMMIT IMAGE.tar OUT
//
// writes OUT/layout (an OCI layout of the image or index to push) and OUT/digest.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"dagger/nightly/ci/registry"
)

func main() {
	epoch := flag.String("epoch", "", "the build's date (RFC 3339): every time in what the build made")
	revision := flag.String("revision", "", "the commit the image's revision label must name")
	flag.Parse()
	if err := run(*epoch, *revision, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "nightly-reproduce:", err)
		os.Exit(1)
	}
}

func run(epoch, revision string, args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: nightly-reproduce --epoch=RFC3339 --revision=COMMIT IMAGE.tar OUT (got %d arguments)", len(args))
	}
	t, err := time.Parse(time.RFC3339, epoch)
	if err != nil {
		return fmt.Errorf("--epoch %q: %v", epoch, err)
	}
	if revision == "" {
		return fmt.Errorf("--revision is empty")
	}
	digest, err := registry.ReproduceTarball(args[0], args[1], t, revision)
	if err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}
