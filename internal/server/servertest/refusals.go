package servertest

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
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

// StreamErr opens a bidirectional stream on method with RawCodec (so a
// message may be a RawMsg), sends msgs, closes its side and reads replies
// into resp until the stream ends: nil when it ends cleanly, otherwise
// the error the server ended it with. A send that fails stops the sending:
// the server has ended the stream, and the read says why.
func StreamErr(ctx context.Context, conn *grpc.ClientConn, method string, resp proto.Message, msgs ...any) error {
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method, grpc.ForceCodecV2(RawCodec{}))
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := st.SendMsg(m); err != nil {
			break
		}
	}
	_ = st.CloseSend()
	return RecvAll(func() (proto.Message, error) { return resp, st.RecvMsg(resp) })
}
