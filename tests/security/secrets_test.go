package security

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// sink is a loopback listener that keeps whatever connects to it sends:
// an address a client would have the server send a secret to.
type sink struct {
	ln  net.Listener
	mu  sync.Mutex
	got []byte
}

func newSink(t *testing.T) *sink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 32<<10)
				for {
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					n, err := c.Read(buf)
					s.mu.Lock()
					s.got = append(s.got, buf[:n]...)
					s.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *sink) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.got)
}

// Finding 1: StartRun read files and environment variables a client named
// and sent their values to an address named in the same request. Every
// such field is now refused with PermissionDenied naming it, before
// anything is read or dialled; ca_file cannot probe for paths either.
func TestRunConfigsCannotExfiltrateSecrets(t *testing.T) {
	srv := startServer(t)
	sk := newSink(t)
	tr := pb.NewTrainerServiceClient(srv.conn(t, aliceToken))
	ctx := ctxT(t, 60*time.Second)
	remote := "canvas: {addresses: [\"" + sk.ln.Addr().String() + "\"], auth: {"
	cases := []struct {
		name, yaml, field string
	}{
		{"canvas token file", remote + "token_file: /etc/shadow}}", "canvas.auth.token_file"},
		{"canvas token file (server secret)", remote + "token_file: " + srv.secret + "}}", "canvas.auth.token_file"},
		{"canvas token env", remote + "token_env: " + secretEnv + "}}", "canvas.auth.token_env"},
		{"canvas ca_file probe (exists)", remote + "ca_file: /etc/passwd}}", "canvas.auth.ca_file"},
		{"canvas ca_file probe (missing)", remote + "ca_file: /nonexistent/x.pem}}", "canvas.auth.ca_file"},
		{"canvas client cert", remote + "cert_file: /etc/passwd, key_file: /etc/passwd}}", "canvas.auth.cert_file"},
		{"policy token file", "policy: {kind: remote, address: \"" + sk.ln.Addr().String() + "\", auth: {token_file: " + srv.secret + "}}", "policy.auth.token_file"},
		{"policy token env", "policy: {kind: remote, address: \"" + sk.ln.Addr().String() + "\", auth: {token_env: " + secretEnv + "}}", "policy.auth.token_env"},
		{"backend api key env", "backend: {kind: openai, base_url: \"http://" + sk.ln.Addr().String() + "/v1\", model: m, api_key_env: " + secretEnv + "}", "backend.api_key_env"},
		{"undeclared credential", "canvas: {addresses: [\"" + sk.ln.Addr().String() + "\"], credential: nosuch}", "canvas.credential"},
		{"non-loopback canvas (proxy)", "canvas: {addresses: [\"10.255.0.1:50051\"]}", "canvas.addresses[0]"},
		{"non-loopback backend (proxy)", "backend: {kind: openai, base_url: \"http://169.254.169.254/latest\", model: m}", "backend.base_url"},
		{"dns authority", "canvas: {addresses: [\"dns://8.8.8.8/x:1\"]}", "canvas.addresses[0]"},
	}
	var probes []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := tr.StartRun(ctx, &pb.StartRunRequest{ConfigYaml: "steps: 1\n" + c.yaml})
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("StartRun: %v; want PermissionDenied", err)
			}
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, c.field) {
				t.Errorf("the refusal does not name %s: %s", c.field, msg)
			}
			if strings.Contains(msg, secretValue) || strings.Contains(msg, "root:") {
				t.Errorf("the refusal leaks a secret: %s", msg)
			}
			if strings.Contains(c.name, "probe") {
				probes = append(probes, msg)
			}
		})
	}
	if len(probes) == 2 && probes[0] != probes[1] {
		t.Errorf("ca_file answers differ for an existing and a missing path:\n%s\n%s", probes[0], probes[1])
	}
	// Evaluate dials only allowed addresses too.
	st, err := tr.Evaluate(ctx, &pb.EvaluateRequest{Policy: &pb.PolicySpec{Kind: "remote", Address: "10.255.0.1:50051"}, Tasks: []*pb.Task{mathTask()}})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "policy.address") {
		t.Errorf("Evaluate with a non-loopback policy: %v; want PermissionDenied naming policy.address", err)
	}
	time.Sleep(200 * time.Millisecond)
	if got := sk.received(); strings.Contains(got, secretValue) || strings.Contains(got, "root:") {
		t.Fatalf("a secret reached the client's address: %q", got)
	}
	if strings.Contains(srv.logs.String(), secretValue) {
		t.Fatal("a secret appears in the server's log")
	}
}
