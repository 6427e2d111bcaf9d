package canvas

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/internal/canvas"
)

// TestToStatusMapsEveryDomainError: each domain error, however wrapped,
// gets the code a client can act on; an error that already carries a
// status keeps it; anything else is Internal.
func TestToStatusMapsEveryDomainError(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("episode ep_1: %w", err) }
	cases := []struct {
		err  error
		want codes.Code
	}{
		{nil, codes.OK},
		{wrap(canvas.ErrNotFound), codes.NotFound},
		{wrap(canvas.ErrClosed), codes.FailedPrecondition},
		{wrap(canvas.ErrDone), codes.FailedPrecondition},
		{wrap(canvas.ErrInvalid), codes.InvalidArgument},
		{wrap(canvas.ErrExhausted), codes.ResourceExhausted},
		{wrap(context.Canceled), codes.Canceled},
		{wrap(context.DeadlineExceeded), codes.DeadlineExceeded},
		{status.Error(codes.Unavailable, "draining"), codes.Unavailable},
		{errors.New("disk on fire"), codes.Internal},
	}
	for _, tc := range cases {
		got := toStatus(tc.err)
		if status.Code(got) != tc.want {
			t.Errorf("toStatus(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if _, isStatus := status.FromError(tc.err); tc.err != nil && !isStatus && status.Convert(got).Message() != tc.err.Error() {
			t.Errorf("toStatus(%v) changed the message to %q", tc.err, status.Convert(got).Message())
		}
	}
}
