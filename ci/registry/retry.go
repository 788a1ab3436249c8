package registry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// retrying is an http.RoundTripper that retries what a registry may answer differently a moment
// later: 408, 429 (honouring Retry-After), 5xx, and connections refused, reset or cut. It counts
// every fault it retried, so a publish can say how many it survived.
type retrying struct {
	inner http.RoundTripper
	// attempts per request (first try included), and the first wait (doubling, jittered).
	attempts int
	wait     time.Duration
	// maxRetryAfter caps a server's Retry-After.
	maxRetryAfter time.Duration
	faults        *atomic.Int64
	sleep         func(ctx context.Context, d time.Duration) error
}

var retryStatus = map[int]bool{
	http.StatusRequestTimeout: true, http.StatusTooManyRequests: true,
	http.StatusInternalServerError: true, http.StatusBadGateway: true,
	http.StatusServiceUnavailable: true, http.StatusGatewayTimeout: true,
}

func (r *retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := r.inner.RoundTrip(req)
		if !r.transient(resp, err) || attempt >= r.attempts || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		r.faults.Add(1)
		wait := r.wait << (attempt - 1)
		wait = wait/2 + time.Duration(rand.Int64N(int64(wait)+1))
		if resp != nil {
			if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s >= 0 {
				wait = min(time.Duration(s)*time.Second, r.maxRetryAfter)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		}
		if err := r.sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

func (r *retrying) transient(resp *http.Response, err error) bool {
	if err != nil {
		var nerr net.Error
		return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
			errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
			errors.Is(err, syscall.EPIPE) || (errors.As(err, &nerr) && nerr.Timeout())
	}
	return retryStatus[resp.StatusCode]
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
