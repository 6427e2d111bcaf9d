// Package servertest starts servers built by internal/server for tests,
// over bufconn or a loopback port, and puts on the wire requests no
// well-behaved client would marshal. Only tests import it.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/flowsteer/flowsteer/internal/server"
)

// Grace is how long a test server's graceful stop lets in-flight calls
// finish before cutting them.
const Grace = 2 * time.Second

// Discard is a logger that writes nothing, for server.Options.Logger.
func Discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Bufconn builds a server from o, lets register add its services, serves
// it on an in-memory listener and returns a client connection to it. At
// the end of the test the connection is closed, the server stops
// gracefully (see Grace) and an error from Serve fails the test.
func Bufconn(t testing.TB, o server.Options, register func(*server.Server)) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	stop := serve(t, o, register, lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		stop()
	})
	return conn
}

// Loopback is Bufconn on a TCP port of 127.0.0.1, for clients that dial an
// address themselves: it returns the address. At the end of the test the
// server stops gracefully and an error from Serve fails the test.
func Loopback(t testing.TB, o server.Options, register func(*server.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(serve(t, o, register, lis))
	return lis.Addr().String()
}

// serve starts the server on lis and returns the function that stops it
// and reports Serve's error.
func serve(t testing.TB, o server.Options, register func(*server.Server), lis net.Listener) (stop func()) {
	s := server.New(o)
	register(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis, Grace) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
}

// RawCodec is a client codec named "proto" that sends a RawMsg's bytes as
// they are and marshals anything else as protobuf: with
// grpc.ForceCodecV2(RawCodec{}) a test puts on the wire what no
// well-behaved client would marshal (invalid UTF-8 in a string,
// undecodable bytes).
type RawCodec struct{}

// RawMsg is a request already on the wire.
type RawMsg []byte

func (RawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(RawMsg); ok {
		return mem.BufferSlice{mem.SliceBuffer(r)}, nil
	}
	b, err := proto.Marshal(v.(proto.Message))
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}

func (RawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}

func (RawCodec) Name() string { return "proto" }

// InvalidUTF8 is the string WithInvalidUTF8 puts on the wire.
const InvalidUTF8 = "\xff\xfe not UTF-8 \xc3"

// WithInvalidUTF8 returns m's wire form with the string field at path (a
// chain of message fields ending in a string) set to InvalidUTF8: a second
// occurrence of a message field merges into the first, and the last
// occurrence of a string wins.
func WithInvalidUTF8(t testing.TB, m proto.Message, path ...protoreflect.Name) RawMsg {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var fds []protoreflect.FieldDescriptor
	md := m.ProtoReflect().Descriptor()
	for _, name := range path {
		if md == nil {
			t.Fatalf("%s is not a message field", fds[len(fds)-1].FullName())
		}
		fd := md.Fields().ByName(name)
		if fd == nil {
			t.Fatalf("%s has no field %s", md.FullName(), name)
		}
		fds = append(fds, fd)
		md = fd.Message()
	}
	inner := []byte(InvalidUTF8)
	for i := len(fds) - 1; i >= 0; i-- {
		inner = protowire.AppendBytes(protowire.AppendTag(nil, fds[i].Number(), protowire.BytesType), inner)
	}
	return append(b, inner...)
}
