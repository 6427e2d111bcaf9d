package servertest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Refusal is one request a service must answer with a given code: Call
// sends it and returns the error the service answered with (nil for OK).
type Refusal struct {
	Name string
	Call func(ctx context.Context) error
	Want codes.Code
}

// CheckRefusals runs each refusal as a subtest under a deadline of a
// minute and checks the code the service answered with. A refusal must
// carry a message: a bare code tells a client nothing to fix. after, when
// not nil, runs at the end of each subtest, to check that a refused
// request changed nothing.
func CheckRefusals(t *testing.T, cases []Refusal, after func(t *testing.T)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := tc.Call(ctx)
			if got := status.Code(err); got != tc.Want {
				t.Errorf("code %v (%.300v), want %v", got, err, tc.Want)
			}
			if st, _ := status.FromError(err); err != nil && strings.TrimSpace(st.Message()) == "" {
				t.Errorf("refusal without a message")
			}
			if after != nil {
				after(t)
			}
		})
	}
}

// RecvAll reads a server stream to its end (recv is the stream's Recv): nil
// when the stream ends cleanly, otherwise the error it ends with.
func RecvAll[T any](recv func() (T, error)) error {
	for {
		if _, err := recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}
