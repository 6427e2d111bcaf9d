package flowsteer

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/credentials/local"
	"google.golang.org/grpc/metadata"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/auth/authtest"
)

// capture records the authorization metadata of each call.
type capture struct {
	pb.UnimplementedCanvasServiceServer
	mu   sync.Mutex
	auth []string
}

func (c *capture) ListOperators(ctx context.Context, _ *pb.ListOperatorsRequest) (*pb.ListOperatorsResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth = append(c.auth, strings.Join(md.Get("authorization"), ","))
	return &pb.ListOperatorsResponse{}, nil
}

func (c *capture) last() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.auth) == 0 {
		return ""
	}
	return c.auth[len(c.auth)-1]
}

func startCapture(t *testing.T, opts ...grpc.ServerOption) (string, *capture) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	c := &capture{}
	pb.RegisterCanvasServiceServer(s, c)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String(), c
}

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveToken(t *testing.T) {
	t.Setenv("FLOWSTEER_TEST_TOKEN", " from-env ")
	cases := []struct {
		name string
		c    Credentials
		want string
	}{
		{"none", Credentials{}, ""},
		{"literal", Credentials{Token: "lit"}, "lit"},
		{"file skips comments and blank lines", Credentials{TokenFile: write(t, "tok", "# for the trainer\n\n  from-file  \nignored\n")}, "from-file"},
		{"environment", Credentials{TokenEnv: "FLOWSTEER_TEST_TOKEN"}, "from-env"},
		{"unset environment variable: no token", Credentials{TokenEnv: "FLOWSTEER_TEST_UNSET"}, ""},
		{"file before environment", Credentials{TokenFile: write(t, "tok", "from-file\n"), TokenEnv: "FLOWSTEER_TEST_TOKEN"}, "from-file"},
		{"literal before file", Credentials{Token: "lit", TokenFile: write(t, "tok", "from-file\n")}, "lit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.ResolveToken()
			if err != nil || got != tc.want {
				t.Fatalf("token %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDialOptionsErrors(t *testing.T) {
	pki := authtest.PKI(t)
	cases := []struct {
		name string
		c    Credentials
		want string
	}{
		{"certificate without key", Credentials{CAFile: pki.CA, CertFile: pki.ClientCert["alice"]}, "cert_file and key_file"},
		{"TLS and insecure", Credentials{CAFile: pki.CA, Insecure: true}, "choose one"},
		{"missing CA file", Credentials{CAFile: filepath.Join(t.TempDir(), "nope.pem")}, "CA file"},
		{"CA file without PEM", Credentials{CAFile: write(t, "ca.pem", "not a certificate")}, "no PEM certificate"},
		{"missing token file", Credentials{TokenFile: filepath.Join(t.TempDir(), "nope")}, "token file"},
		{"token file without a token", Credentials{TokenFile: write(t, "tok", "# nothing\n\n")}, "holds no token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.DialOptions()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDialWithCredentials(t *testing.T) {
	pki := authtest.PKI(t)
	tcfg, err := auth.ServerTLS(pki.ServerCert, pki.ServerKey, "")
	if err != nil {
		t.Fatal(err)
	}
	plainAddr, plain := startCapture(t)
	tlsAddr, secure := startCapture(t, grpc.Creds(credentials.NewTLS(tcfg)))
	cases := []struct {
		name     string
		addr     string
		srv      *capture
		c        Credentials
		extra    []grpc.DialOption // after the credentials' options
		wantAuth string
		wantErr  string
	}{
		{name: "zero value: plaintext, no token", addr: plainAddr, srv: plain, wantAuth: ""},
		{name: "token to loopback without TLS", addr: plainAddr, srv: plain, c: Credentials{Token: "tok-1"}, wantAuth: "Bearer tok-1"},
		{name: "token, insecure", addr: plainAddr, srv: plain, c: Credentials{Token: "tok-2", Insecure: true}, wantAuth: "Bearer tok-2"},
		{name: "TLS overrides Dial's plaintext default", addr: tlsAddr, srv: secure, c: Credentials{CAFile: pki.CA, Token: "tok-3"}, wantAuth: "Bearer tok-3"},
		{name: "server name override", addr: tlsAddr, srv: secure, c: Credentials{CAFile: pki.CA, ServerName: "localhost"}, wantAuth: ""},
		{name: "wrong server name", addr: tlsAddr, srv: secure, c: Credentials{CAFile: pki.CA, ServerName: "elsewhere.example"}, wantErr: "elsewhere.example"},
		{name: "a later plaintext option wins, and the token refuses it", addr: plainAddr, c: Credentials{CAFile: pki.CA, Token: "tok-4"},
			extra: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, wantErr: "transport"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := tc.c.DialOptions()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(tc.addr, append(opts, tc.extra...)...)
			if err == nil {
				defer c.Close()
				_, err = c.ListOperators(ctx, "")
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.srv.last(); got != tc.wantAuth {
				t.Errorf("authorization %q, want %q", got, tc.wantAuth)
			}
		})
	}
}

// fakeConn is a connection whose peer is whatever the test says.
type fakeConn struct {
	net.Conn
	remote net.Addr
}

func (f fakeConn) RemoteAddr() net.Addr { return f.remote }

func TestTokenWithoutTLSOnlyToLoopback(t *testing.T) {
	opts, err := Credentials{Token: "tok"}.DialOptions()
	if err != nil || len(opts) != 2 {
		t.Fatalf("options %d, %v", len(opts), err)
	}
	tc := loopbackOnly{local.NewCredentials()}
	cases := []struct {
		peer   string
		wantOK bool
	}{
		{"127.0.0.1:50051", true},
		{"[::1]:50051", true},
		{"10.1.2.3:50051", false},
		{"203.0.113.7:443", false},
	}
	for _, c := range cases {
		t.Run(c.peer, func(t *testing.T) {
			a, err := net.ResolveTCPAddr("tcp", c.peer)
			if err != nil {
				t.Fatal(err)
			}
			client, server := net.Pipe()
			defer client.Close()
			defer server.Close()
			_, _, err = tc.ClientHandshake(context.Background(), c.peer, fakeConn{Conn: client, remote: a})
			if c.wantOK != (err == nil) {
				t.Fatalf("handshake error %v, want ok=%v", err, c.wantOK)
			}
			if err != nil && (!strings.Contains(err.Error(), "--tls-ca") || !strings.Contains(err.Error(), "insecure")) {
				t.Errorf("the error does not say how to fix it: %v", err)
			}
		})
	}
}
