package auth_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/auth/authtest"
	"github.com/flowsteer/flowsteer/internal/server"
)

const (
	aliceTok = "alice-token-0123456789abcdef"
	bobTok   = "bob-token-0123456789abcdef"
	bareTok  = "bare-token-0123456789abcdef"
	envTok   = "env-token-0123456789abcdef"
)

// fakeCanvas answers ListOperators with the caller's identity, makes
// episodes, and keeps Interact streams open until the client ends them.
type fakeCanvas struct {
	pb.UnimplementedCanvasServiceServer
	n atomic.Int64
}

func (f *fakeCanvas) ListOperators(ctx context.Context, _ *pb.ListOperatorsRequest) (*pb.ListOperatorsResponse, error) {
	id, ok := auth.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no identity in the context")
	}
	return &pb.ListOperatorsResponse{Operators: []*pb.OperatorInfo{{Name: id.String()}}}, nil
}

func (f *fakeCanvas) CreateEpisode(context.Context, *pb.CreateEpisodeRequest) (*pb.CreateEpisodeResponse, error) {
	return &pb.CreateEpisodeResponse{Observation: &pb.Observation{EpisodeId: fmt.Sprintf("ep-%d", f.n.Add(1))}}, nil
}

func (f *fakeCanvas) CloseEpisode(_ context.Context, r *pb.CloseEpisodeRequest) (*pb.CloseEpisodeResponse, error) {
	if !strings.HasPrefix(r.GetEpisodeId(), "ep-") {
		return nil, status.Error(codes.NotFound, "no such episode")
	}
	return &pb.CloseEpisodeResponse{}, nil
}

func (f *fakeCanvas) Interact(s grpc.BidiStreamingServer[pb.InteractRequest, pb.InteractResponse]) error {
	for {
		if _, err := s.Recv(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := s.Send(&pb.InteractResponse{Observation: &pb.Observation{EpisodeId: fmt.Sprintf("ep-%d", f.n.Add(1))}}); err != nil {
			return err
		}
	}
}

// serve runs a server.Server with the guard's interceptors (as serve
// does) and the fake canvas on lis until the test ends.
func serve(t *testing.T, cfg auth.Config, lis net.Listener, opts ...grpc.ServerOption) {
	t.Helper()
	g := auth.NewGuard(cfg)
	s := server.New(server.Options{GuardUnary: g.Unary(), GuardStream: g.Stream(), ServerOpts: opts})
	pb.RegisterCanvasServiceServer(s.GRPC, &fakeCanvas{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, lis, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// bufServer serves cfg in memory and returns a connection to it.
func bufServer(t *testing.T, cfg auth.Config) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	serve(t, cfg, lis)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func tokenStore(t *testing.T, fileText, env string) (*auth.TokenStore, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	writeFile(t, path, fileText)
	s, err := auth.NewTokenStore(auth.TokenOptions{File: path, EnvName: "TEST_TOKENS", EnvValue: env, Reload: 0})
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func withToken(ctx context.Context, header string) context.Context {
	if header == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", header)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// whoAmI calls ListOperators and returns the identity the server saw.
func whoAmI(ctx context.Context, conn grpc.ClientConnInterface) (string, error) {
	r, err := pb.NewCanvasServiceClient(conn).ListOperators(ctx, &pb.ListOperatorsRequest{})
	if err != nil {
		return "", err
	}
	return r.GetOperators()[0].GetName(), nil
}

func TestBearerTokens(t *testing.T) {
	store, _ := tokenStore(t, "# clients\nalice:"+aliceTok+"\n\n  "+bareTok+"  \n", envTok)
	conn := bufServer(t, auth.Config{Tokens: store})
	canvas := pb.NewCanvasServiceClient(conn)
	cases := []struct {
		name     string
		header   string
		call     func(ctx context.Context) (string, error)
		wantCode codes.Code
		wantID   string // identity the handler saw
	}{
		{name: "no token", call: func(ctx context.Context) (string, error) { return whoAmI(ctx, conn) }, wantCode: codes.Unauthenticated},
		{name: "wrong token", header: "Bearer wrong-token-0123456789abcdef", call: func(ctx context.Context) (string, error) { return whoAmI(ctx, conn) }, wantCode: codes.Unauthenticated},
		{name: "prefix of a valid token", header: "Bearer " + aliceTok[:20], call: func(ctx context.Context) (string, error) { return whoAmI(ctx, conn) }, wantCode: codes.Unauthenticated},
		{name: "not a bearer scheme", header: "Basic " + aliceTok, call: func(ctx context.Context) (string, error) { return whoAmI(ctx, conn) }, wantCode: codes.Unauthenticated},
		{name: "named token", header: "Bearer " + aliceTok, call: func(ctx context.Context) (string, error) { return whoAmI(ctx, conn) }, wantCode: codes.OK, wantID: "token:alice"},
		{name: "scheme is case-insensitive", header: "bearer " + aliceTok, call: func(ctx context.Context) (string, error) { return whoAmI(ctx, conn) }, wantCode: codes.OK, wantID: "token:alice"},
		{name: "bare token named by fingerprint", header: "Bearer " + bareTok, call: func(ctx context.Context) (string, error) { return whoAmI(ctx, conn) }, wantCode: codes.OK, wantID: "token:sha256-"},
		{name: "token from the environment", header: "Bearer " + envTok, call: func(ctx context.Context) (string, error) { return whoAmI(ctx, conn) }, wantCode: codes.OK, wantID: "token:sha256-"},
		{name: "stream without token", call: func(ctx context.Context) (string, error) {
			s, err := canvas.Interact(ctx)
			if err != nil {
				return "", err
			}
			_, err = s.Recv()
			return "", err
		}, wantCode: codes.Unauthenticated},
		{name: "health without token", call: func(ctx context.Context) (string, error) {
			r, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil && r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				return "", fmt.Errorf("health: %v", r.GetStatus())
			}
			return "", err
		}, wantCode: codes.OK},
		{name: "reflection without token", call: func(ctx context.Context) (string, error) {
			s, err := reflectpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			if err != nil {
				return "", err
			}
			if err := s.Send(&reflectpb.ServerReflectionRequest{MessageRequest: &reflectpb.ServerReflectionRequest_ListServices{}}); err != nil {
				return "", err
			}
			r, err := s.Recv()
			if err != nil {
				return "", err
			}
			for _, svc := range r.GetListServicesResponse().GetService() {
				if svc.GetName() == "flowsteer.v1.CanvasService" {
					return "", nil
				}
			}
			return "", fmt.Errorf("reflection does not list the canvas: %v", r)
		}, wantCode: codes.OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.call(withToken(ctxT(t), tc.header))
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tc.wantCode)
			}
			if err != nil && strings.Contains(err.Error(), "token-0123456789") {
				t.Errorf("the error echoes a token: %v", err)
			}
			if tc.wantCode == codes.Unauthenticated && !strings.Contains(status.Convert(err).Message(), "Bearer") && !strings.Contains(status.Convert(err).Message(), "token") {
				t.Errorf("the message does not say what to send: %q", status.Convert(err).Message())
			}
			if !strings.HasPrefix(id, tc.wantID) {
				t.Errorf("identity %q, want prefix %q", id, tc.wantID)
			}
		})
	}
}

func TestTokenRemovedFromFile(t *testing.T) {
	store, path := tokenStore(t, "alice:"+aliceTok+"\nbob:"+bobTok+"\n", "")
	conn := bufServer(t, auth.Config{Tokens: store})
	steps := []struct {
		name   string
		file   string // rewritten before the calls ("" keeps it)
		remove bool
		want   map[string]codes.Code
	}{
		{name: "both listed", want: map[string]codes.Code{aliceTok: codes.OK, bobTok: codes.OK}},
		{name: "alice removed", file: "bob:" + bobTok + "\n", want: map[string]codes.Code{aliceTok: codes.Unauthenticated, bobTok: codes.OK}},
		{name: "alice back", file: "alice:" + aliceTok + "\nbob:" + bobTok + "\n", want: map[string]codes.Code{aliceTok: codes.OK, bobTok: codes.OK}},
		{name: "file broken: fail closed", file: "alice:" + aliceTok + "\n:nameless\n", want: map[string]codes.Code{aliceTok: codes.Unauthenticated, bobTok: codes.Unauthenticated}},
		{name: "file deleted: fail closed", remove: true, want: map[string]codes.Code{aliceTok: codes.Unauthenticated}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.file != "" {
				writeFile(t, path, st.file)
			}
			if st.remove {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			}
			for tok, want := range st.want {
				_, err := whoAmI(withToken(ctxT(t), "Bearer "+tok), conn)
				if got := status.Code(err); got != want {
					t.Errorf("token %.10s...: code %v (%v), want %v", tok, got, err, want)
				}
			}
		})
	}
}

func TestTokenFileErrors(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"short token", "alice:short\n", "shorter than 16"},
		{"empty name", ":" + aliceTok + "\n", "empty client name"},
		{"whitespace inside", "alice:abc def 0123456789abcdef\n", "whitespace"},
		{"same token twice", "alice:" + aliceTok + "\nbob:" + aliceTok + "\n", "already listed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens")
			writeFile(t, path, tc.text)
			_, err := auth.NewTokenStore(auth.TokenOptions{File: path})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("the error quotes a token: %v", err)
			}
			if !strings.Contains(err.Error(), "line ") {
				t.Errorf("the error does not name the line: %v", err)
			}
		})
	}
	if _, err := auth.NewTokenStore(auth.TokenOptions{File: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("a missing token file was accepted")
	}
}

func TestOpenServerIdentifiesPeers(t *testing.T) {
	conn := bufServer(t, auth.Config{})
	id, err := whoAmI(ctxT(t), conn)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "peer:") {
		t.Fatalf("identity %q, want the peer address", id)
	}
	// A token is not required, and ignored, when the server takes none.
	if _, err := whoAmI(withToken(ctxT(t), "Bearer whatever"), conn); err != nil {
		t.Fatal(err)
	}
}

func TestRateLimit(t *testing.T) {
	store, _ := tokenStore(t, "alice:"+aliceTok+"\nbob:"+bobTok+"\n", "")
	conn := bufServer(t, auth.Config{Tokens: store, RateLimit: 0.01, RateBurst: 2})
	calls := []struct {
		name  string
		token string
		call  string // "canvas" or "health"
		want  codes.Code
	}{
		{"alice 1", aliceTok, "canvas", codes.OK},
		{"alice 2", aliceTok, "canvas", codes.OK},
		{"alice over the burst", aliceTok, "canvas", codes.ResourceExhausted},
		{"alice's stream start counts too", aliceTok, "stream", codes.ResourceExhausted},
		{"bob has his own budget", bobTok, "canvas", codes.OK},
		{"health is not limited", "", "health", codes.OK},
		{"health again", "", "health", codes.OK},
		{"health a third time", "", "health", codes.OK},
	}
	for _, c := range calls {
		ctx := ctxT(t)
		if c.token != "" {
			ctx = withToken(ctx, "Bearer "+c.token)
		}
		var err error
		switch c.call {
		case "canvas":
			_, err = whoAmI(ctx, conn)
		case "stream":
			var s grpc.BidiStreamingClient[pb.InteractRequest, pb.InteractResponse]
			if s, err = pb.NewCanvasServiceClient(conn).Interact(ctx); err == nil {
				_, err = s.Recv()
			}
		case "health":
			_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		}
		if got := status.Code(err); got != c.want {
			t.Fatalf("%s: code %v (%v), want %v", c.name, got, err, c.want)
		}
		if c.want == codes.ResourceExhausted {
			msg := status.Convert(err).Message()
			for _, w := range []string{"token:alice", "--rate-limit", "burst 2"} {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: message %q does not contain %q", c.name, msg, w)
				}
			}
		}
	}
}

// openStream opens an Interact stream and waits for its first observation.
func openStream(ctx context.Context, conn grpc.ClientConnInterface) (grpc.BidiStreamingClient[pb.InteractRequest, pb.InteractResponse], error) {
	s, err := pb.NewCanvasServiceClient(conn).Interact(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.Send(&pb.InteractRequest{Msg: &pb.InteractRequest_Open{Open: &pb.CreateEpisodeRequest{}}}); err != nil && err != io.EOF {
		return nil, err
	}
	if _, err := s.Recv(); err != nil {
		return nil, err
	}
	return s, nil
}

func closeStream(t *testing.T, s grpc.BidiStreamingClient[pb.InteractRequest, pb.InteractResponse]) {
	t.Helper()
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("stream end: %v", err)
	}
}

func TestEpisodeLimit(t *testing.T) {
	store, _ := tokenStore(t, "alice:"+aliceTok+"\nbob:"+bobTok+"\n", "")
	conn := bufServer(t, auth.Config{Tokens: store, MaxClientEpisodes: 2, EpisodeTTL: time.Hour})
	canvas := pb.NewCanvasServiceClient(conn)
	alice := withToken(ctxT(t), "Bearer "+aliceTok)
	bob := withToken(ctxT(t), "Bearer "+bobTok)
	exhausted := func(step string, err error) {
		t.Helper()
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("%s: code %v (%v), want ResourceExhausted", step, status.Code(err), err)
		}
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "--max-client-episodes") || !strings.Contains(msg, "2 open") {
			t.Errorf("%s: message %q does not say the limit and how to raise it", step, msg)
		}
	}

	s1, err := openStream(alice, conn)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := openStream(alice, conn)
	if err != nil {
		t.Fatal(err)
	}
	_, err = openStream(alice, conn)
	exhausted("third stream", err)
	_, err = canvas.CreateEpisode(alice, &pb.CreateEpisodeRequest{})
	exhausted("CreateEpisode over the limit", err)
	if _, err := openStream(bob, conn); err != nil {
		t.Fatalf("another client is limited by alice's episodes: %v", err)
	}

	closeStream(t, s1)
	if s1, err = openStream(alice, conn); err != nil {
		t.Fatalf("closing a stream did not free its slot: %v", err)
	}
	closeStream(t, s1)
	created, err := canvas.CreateEpisode(alice, &pb.CreateEpisodeRequest{})
	if err != nil {
		t.Fatalf("CreateEpisode within the limit: %v", err)
	}
	_, err = openStream(alice, conn)
	exhausted("stream while a created episode is open", err)
	if _, err := canvas.CloseEpisode(alice, &pb.CloseEpisodeRequest{EpisodeId: created.GetObservation().GetEpisodeId()}); err != nil {
		t.Fatal(err)
	}
	if s1, err = openStream(alice, conn); err != nil {
		t.Fatalf("CloseEpisode did not free the slot: %v", err)
	}
	closeStream(t, s1)
	closeStream(t, s2)
}

func TestMutualTLS(t *testing.T) {
	pki := authtest.PKI(t)
	tcfg, err := auth.ServerTLS(pki.ServerCert, pki.ServerKey, pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := tokenStore(t, "alice-token:"+aliceTok+"\n", "")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, auth.Config{Tokens: store, ClientCerts: true}, lis, grpc.Creds(credentials.NewTLS(tcfg)))
	addr := lis.Addr().String()
	cases := []struct {
		name     string
		creds    flowsteer.Credentials
		health   bool // call health instead of the canvas
		wantCode codes.Code
		wantID   string
	}{
		{name: "trusted client certificate", creds: flowsteer.Credentials{CAFile: pki.CA, CertFile: pki.ClientCert["alice"], KeyFile: pki.ClientKey["alice"]}, wantCode: codes.OK, wantID: "cert:alice"},
		{name: "untrusted client certificate fails the handshake", creds: flowsteer.Credentials{CAFile: pki.CA, CertFile: pki.UntrustedCert, KeyFile: pki.UntrustedKey}, wantCode: codes.Unavailable},
		{name: "untrusted client certificate: health too", creds: flowsteer.Credentials{CAFile: pki.CA, CertFile: pki.UntrustedCert, KeyFile: pki.UntrustedKey}, health: true, wantCode: codes.Unavailable},
		{name: "no certificate, no token", creds: flowsteer.Credentials{CAFile: pki.CA}, wantCode: codes.Unauthenticated},
		{name: "no certificate, valid token", creds: flowsteer.Credentials{CAFile: pki.CA, Token: aliceTok}, wantCode: codes.OK, wantID: "token:alice-token"},
		{name: "certificate and a wrong token", creds: flowsteer.Credentials{CAFile: pki.CA, CertFile: pki.ClientCert["alice"], KeyFile: pki.ClientKey["alice"], Token: bobTok}, wantCode: codes.Unauthenticated},
		{name: "no certificate: health still open", creds: flowsteer.Credentials{CAFile: pki.CA}, health: true, wantCode: codes.OK},
		{name: "client does not trust the server", creds: flowsteer.Credentials{CAFile: pki.UntrustedCA, CertFile: pki.ClientCert["alice"], KeyFile: pki.ClientKey["alice"]}, wantCode: codes.Unavailable},
		{name: "plaintext to a TLS server", creds: flowsteer.Credentials{}, wantCode: codes.Unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.creds.DialOptions()
			if err != nil {
				t.Fatal(err)
			}
			c, err := grpc.NewClient(addr, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var id string
			if tc.health {
				_, err = healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
			} else {
				id, err = whoAmI(ctx, c)
			}
			if got := status.Code(err); got != tc.wantCode {
				t.Fatalf("code %v (%v), want %v", got, err, tc.wantCode)
			}
			if id != tc.wantID {
				t.Errorf("identity %q, want %q", id, tc.wantID)
			}
		})
	}
}
