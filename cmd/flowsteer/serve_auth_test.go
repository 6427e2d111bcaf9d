package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/auth/authtest"
)

const testToken = "serve-test-token-0123456789abcdef"

// lockedBuffer collects log output written from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// captureLogs sends slog's default logger to a buffer for the test.
func captureLogs(t *testing.T) *lockedBuffer {
	t.Helper()
	buf := &lockedBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return buf
}

// startServe parses args as `flowsteer serve` flags (a sim canvas by
// default) and runs serve until the test ends. It returns the bound
// address, or the error serve stopped with before it was ready.
func startServe(t *testing.T, args ...string) (string, error) {
	t.Helper()
	f := &serveFlags{}
	cmd := newServeCmdWith(f)
	base := []string{"--services", "canvas", "--backend", "sim", "--grace", "1s", "--runs-dir", t.TempDir()}
	if err := cmd.ParseFlags(append(base, args...)); err != nil {
		t.Fatalf("flags: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, f, ready) }()
	select {
	case addr := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return addr, nil
	case err := <-done:
		cancel()
		if err == nil {
			t.Fatal("serve returned without error before it was ready")
		}
		return "", err
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve did not become ready")
	}
	return "", nil
}

// loopbackAddr turns a wildcard bound address into one a client dials.
func loopbackAddr(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

func dial(t *testing.T, addr string, c flowsteer.Credentials) *flowsteer.Client {
	t.Helper()
	opts, err := c.DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := flowsteer.Dial(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func health(ctx context.Context, addr string, c flowsteer.Credentials) error {
	opts, err := c.DialOptions()
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestServeListenPolicy(t *testing.T) {
	t.Setenv(serverTokensEnv, "")
	pki := authtest.PKI(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("# test clients\nalice:"+testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tlsFlags := []string{"--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey}
	withTLS := func(more ...string) []string { return append(append([]string{}, tlsFlags...), more...) }
	type call struct {
		creds flowsteer.Credentials
		code  codes.Code
	}
	cases := []struct {
		name     string
		args     []string
		wantErr  []string // serve refuses, with all of these in the error
		notInErr []string
		calls    []call // else: canvas calls and their codes
		warn     bool   // an INSECURE warning is logged
	}{
		{name: "all interfaces, nothing: refused", args: []string{"--addr", "0.0.0.0:0"},
			wantErr: []string{"refusing to serve on 0.0.0.0:0", "no TLS and no authentication", "--tls-cert FILE --tls-key FILE", "--auth-token-file FILE", "--tls-client-ca FILE", "--insecure"}},
		{name: "empty host: refused", args: []string{"--addr", ":0"}, wantErr: []string{"refusing", "--insecure"}},
		{name: "TLS without authentication: refused", args: append([]string{"--addr", "0.0.0.0:0"}, tlsFlags...),
			wantErr: []string{"no authentication", "--auth-token-file FILE"}, notInErr: []string{"no TLS", "--tls-cert FILE"}},
		{name: "tokens without TLS: refused", args: []string{"--addr", "0.0.0.0:0", "--auth-token-file", tokens},
			wantErr: []string{"no TLS", "--tls-cert FILE --tls-key FILE"}, notInErr: []string{"no authentication"}},
		{name: "client CA without a server certificate", args: []string{"--addr", "0.0.0.0:0", "--tls-client-ca", pki.CA}, wantErr: []string{"--tls-client-ca needs --tls-cert"}},
		{name: "certificate without key", args: []string{"--tls-cert", pki.ServerCert}, wantErr: []string{"--tls-cert and --tls-key go together"}},
		{name: "broken token file", args: []string{"--auth-token-file", filepath.Join(t.TempDir(), "missing")}, wantErr: []string{"--auth-token-file"}},
		{name: "TLS and tokens on all interfaces", args: withTLS("--addr", "0.0.0.0:0", "--auth-token-file", tokens), calls: []call{
			{flowsteer.Credentials{CAFile: pki.CA, Token: testToken}, codes.OK},
			{flowsteer.Credentials{CAFile: pki.CA}, codes.Unauthenticated},
			{flowsteer.Credentials{CAFile: pki.CA, Token: "wrong-token-0123456789abcdef"}, codes.Unauthenticated},
			{flowsteer.Credentials{Token: testToken, Insecure: true}, codes.Unavailable},
		}},
		{name: "TLS and client certificates on all interfaces", args: withTLS("--addr", "0.0.0.0:0", "--tls-client-ca", pki.CA), calls: []call{
			{flowsteer.Credentials{CAFile: pki.CA, CertFile: pki.ClientCert["alice"], KeyFile: pki.ClientKey["alice"]}, codes.OK},
			{flowsteer.Credentials{CAFile: pki.CA, CertFile: pki.UntrustedCert, KeyFile: pki.UntrustedKey}, codes.Unavailable},
			{flowsteer.Credentials{CAFile: pki.CA}, codes.Unauthenticated},
		}},
		{name: "--insecure on all interfaces: served, with a warning", args: []string{"--addr", "0.0.0.0:0", "--insecure"}, warn: true, calls: []call{
			{flowsteer.Credentials{}, codes.OK},
		}},
		{name: "loopback, nothing: open as before", args: []string{"--addr", "127.0.0.1:0"}, calls: []call{
			{flowsteer.Credentials{}, codes.OK},
		}},
		{name: "loopback with tokens: honoured", args: []string{"--addr", "127.0.0.1:0", "--auth-token-file", tokens}, calls: []call{
			{flowsteer.Credentials{}, codes.Unauthenticated},
			{flowsteer.Credentials{Token: testToken}, codes.OK},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := captureLogs(t)
			addr, err := startServe(t, tc.args...)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("serve started on %s; want a refusal", addr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				for _, w := range tc.notInErr {
					if strings.Contains(err.Error(), w) {
						t.Errorf("error %q contains %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
			addr = loopbackAddr(t, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i, c := range tc.calls {
				_, err := dial(t, addr, c.creds).ListOperators(ctx, "")
				if got := status.Code(err); got != c.code {
					t.Errorf("call %d: code %v (%v), want %v", i, got, err, c.code)
				}
				if c.code == codes.Unauthenticated || c.code == codes.OK {
					// Health stays open to whoever can connect.
					if err := health(ctx, addr, flowsteer.Credentials{CAFile: c.creds.CAFile}); err != nil {
						t.Errorf("call %d: health without credentials: %v", i, err)
					}
				}
			}
			if got := strings.Contains(logs.String(), "INSECURE"); got != tc.warn {
				t.Errorf("INSECURE warning logged: %v, want %v\nlogs:\n%s", got, tc.warn, logs)
			}
			if strings.Contains(logs.String(), testToken) {
				t.Error("a token appears in the logs")
			}
		})
	}
}

func TestServeClientLimits(t *testing.T) {
	t.Setenv(serverTokensEnv, "")
	captureLogs(t)
	task := &pb.Task{Id: "t1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Source: "test", Question: "What is 6*7?", Answers: []string{"42"}}
	t.Run("open episodes", func(t *testing.T) {
		addr, err := startServe(t, "--max-client-episodes", "1")
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, addr, flowsteer.Credentials{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ep, err := c.Open(ctx, task)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Open(ctx, task)
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-client-episodes") {
			t.Fatalf("second episode: %v; want ResourceExhausted naming --max-client-episodes", err)
		}
		if err := ep.Close(); err != nil {
			t.Fatal(err)
		}
		// An unfinished episode whose stream ended stays resumable, so it
		// still counts until it is closed (or expires).
		if _, err = c.Open(ctx, task); status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("after the first stream ended, its resumable episode no longer counted: %v", err)
		}
		if _, err := c.CloseEpisode(ctx, ep.ID()); err != nil {
			t.Fatal(err)
		}
		ep, err = c.Open(ctx, task)
		if err != nil {
			t.Fatalf("after the first episode was closed: %v", err)
		}
		if err := ep.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("request rate", func(t *testing.T) {
		addr, err := startServe(t, "--rate-limit", "0.01", "--rate-burst", "2")
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, addr, flowsteer.Credentials{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i, want := range []codes.Code{codes.OK, codes.OK, codes.ResourceExhausted} {
			_, err := c.ListOperators(ctx, "")
			if got := status.Code(err); got != want {
				t.Fatalf("call %d: code %v (%v), want %v", i, got, err, want)
			}
			if want == codes.ResourceExhausted && !strings.Contains(err.Error(), "--rate-limit") {
				t.Errorf("the message does not say how to raise the limit: %v", err)
			}
		}
	})
}

// The client flags reach the connection: demo against a canvas that
// requires a token works with --token-file and fails without it.
func TestClientFlagsCarryToken(t *testing.T) {
	t.Setenv(serverTokensEnv, "")
	t.Setenv(tokenEnv, "")
	captureLogs(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("demo:"+testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, err := startServe(t, "--auth-token-file", tokens, "--no-execute")
	if err != nil {
		t.Fatal(err)
	}
	clientTok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(clientTok, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		flags   clientAuthFlags
		env     string
		wantErr codes.Code
	}{
		{name: "no token", wantErr: codes.Unauthenticated},
		{name: "--token-file", flags: clientAuthFlags{tokenFile: clientTok}},
		{name: "$FLOWSTEER_TOKEN", env: testToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tokenEnv, tc.env)
			err := runDemo(context.Background(), io.Discard, &demoFlags{canvas: addr, auth: tc.flags})
			if tc.wantErr == codes.OK {
				if err != nil {
					t.Fatalf("demo: %v", err)
				}
				return
			}
			if status.Code(err) != tc.wantErr && !strings.Contains(err.Error(), tc.wantErr.String()) {
				t.Fatalf("demo: %v; want %v", err, tc.wantErr)
			}
		})
	}
}
