package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"dagger/nightly/ci/registry"
)

// served sums the bytes the registry sent in GET response bodies, from its access log, after
// offset; it returns the new offset. (HEAD lines log a Content-Length but send no body.)
func served(b *testing.B, offset int64) (bytes, next int64) {
	b.Helper()
	f, err := os.Open(os.Getenv("NIGHTLY_TESTBED_HUB_LOG"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		b.Fatal(err)
	}
	re := regexp.MustCompile(`"GET [^"]*" \d{3} (\d+)`)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			bytes += n
		}
	}
	next, _ = f.Seek(0, 2)
	return bytes, next
}

func logSize(b *testing.B) int64 {
	fi, err := os.Stat(os.Getenv("NIGHTLY_TESTBED_HUB_LOG"))
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

func skopeo(b *testing.B, creds string, args ...string) {
	b.Helper()
	full := append([]string{"copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false"}, args...)
	for i, a := range full {
		full[i] = strings.ReplaceAll(a, "CREDS", creds)
	}
	if out, err := exec.Command("skopeo", full...).CombinedOutput(); err != nil {
		b.Fatalf("skopeo %v: %v\n%s", full, err, out)
	}
}

// BenchmarkPromotion re-points a tag of a ≥200 MB image three ways on the authenticated test bed
// registry: nightly's promotion (go-containerregistry manifest copy), `skopeo copy
// --preserve-digests` tag to tag, and a pull + push of the whole image to another repository.
// served-bytes/op is what the registry sent, read from its access log.
func BenchmarkPromotion(b *testing.B) {
	if os.Getenv("NIGHTLY_TESTBED_HUB") == "" {
		b.Skip("needs the test bed: make bench")
	}
	host := os.Getenv("NIGHTLY_TESTBED_HUB")
	user := os.Getenv("NIGHTLY_TESTBED_HUB_USER")
	pwb, err := os.ReadFile(os.Getenv("NIGHTLY_TESTBED_HUB_PASSWORD_FILE"))
	if err != nil {
		b.Fatal(err)
	}
	pw := strings.TrimSpace(string(pwb))
	creds := user + ":" + pw
	repo := fmt.Sprintf("bench%d/big", time.Now().UnixNano())
	src := "docker://" + host + "/" + repo + ":src"
	// The ≥200 MB image: the test bed's JDK image, copied from the mirror.
	skopeo(b, creds, "--dest-creds=CREDS", "docker://"+os.Getenv("NIGHTLY_TESTBED_MIRROR")+"/library/maven:3.9.9-eclipse-temurin-17", src)
	ctx := context.Background()
	c := registry.New(host, "", &authn.Basic{Username: user, Password: pw})
	digest, err := c.Digest(ctx, repo, "src")
	if err != nil || digest == "" {
		b.Fatalf("digest of %s: %q, %v", src, digest, err)
	}
	if out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--creds", creds, "--raw", src).Output(); err == nil {
		b.Logf("image %s (%s): manifest %s", src, digest, strings.ReplaceAll(string(out), "\n", ""))
	}

	run := func(b *testing.B, op func(i int)) {
		var bytes int64
		off := logSize(b)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			op(i)
		}
		b.StopTimer()
		bytes, _ = served(b, off)
		b.ReportMetric(float64(bytes)/float64(b.N), "served-bytes/op")
	}
	b.Run("nightly-manifest-copy", func(b *testing.B) {
		run(b, func(i int) {
			if err := c.Tag(ctx, repo, fmt.Sprintf("ours-%d", i), digest); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("skopeo-preserve-digests", func(b *testing.B) {
		run(b, func(i int) {
			skopeo(b, creds, "--preserve-digests", "--src-creds=CREDS", "--dest-creds=CREDS", src, fmt.Sprintf("docker://%s/%s:skopeo-%d", host, repo, i))
		})
	})
	b.Run("pull-and-push", func(b *testing.B) {
		run(b, func(i int) {
			dir := b.TempDir()
			skopeo(b, creds, "--src-creds=CREDS", src, "dir:"+dir)
			skopeo(b, creds, "--dest-creds=CREDS", "dir:"+dir, fmt.Sprintf("docker://%s/%s-copy%d:tag", host, repo, i))
		})
	})
	if got, _ := c.Digest(ctx, repo, "ours-0"); got != digest {
		b.Errorf("the promoted tag has %s, want %s", got, digest)
	}
}
