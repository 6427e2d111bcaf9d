// Package security reproduces, against a real `flowsteer serve` on
// loopback with several bearer tokens, the findings of a hostile-client
// review (issue #21): secrets leaving through run configs, access across
// tenants, limits walked around, amplification and edge cases. Each test
// is one finding and passes only while it is fixed.
package security

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/flowsteer/flowsteer/clients/go/flowsteer"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/tests/testbin"
)

// binary is the flowsteer binary these tests start (built once).
func binary(t *testing.T) string { return testbin.Flowsteer(t) }

// Tokens of the tenants every server here accepts.
const (
	aliceToken = "alice-token-0123456789abcdef"
	bobToken   = "bob-token-0123456789abcdef00"
	opsToken   = "ops-token-0123456789abcdef00"
	// secretValue is what the server holds in its environment and in a
	// file; no reply and no dialled address may ever see it.
	secretValue = "s3cr3t-value-that-must-not-leave"
	secretEnv   = "FLOWSTEER_SECURITY_TEST_SECRET"
)

// server is a running `flowsteer serve`.
type server struct {
	addr    string
	dir     string // runs-dir and data-dir live under it
	pid     int
	secret  string // a file holding secretValue
	logs    *logBuffer
	logFile string
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
	n  int64
}

func (l *logBuffer) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += int64(len(s)) + 1
	if l.b.Len() < 4<<20 {
		l.b.WriteString(s + "\n")
	}
}

// Bytes is how many bytes the server has logged.
func (l *logBuffer) Bytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var addrRE = regexp.MustCompile(`msg="flowsteer serving" addr=(\S+)`)

// startServer runs serve on a free loopback port with the tokens alice,
// bob and ops (an admin), a declared credential "canvas" (a token file
// holding secretValue) and args added.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{dir: dir, logs: &logBuffer{}}
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte("alice:"+aliceToken+"\nbob:"+bobToken+"\nops:"+opsToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.secret = filepath.Join(dir, "secret")
	if err := os.WriteFile(s.secret, []byte(secretValue+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"runs", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--auth-token-file", tokens, "--admin", "ops",
		"--runs-dir", filepath.Join(dir, "runs"), "--data-dir", filepath.Join(dir, "data"),
		"--credential", "canvas=token-file:" + s.secret}, args...)
	cmd := exec.Command(binary(t), all...)
	cmd.Env = append(os.Environ(), secretEnv+"="+secretValue, "FLOWSTEER_AUTH_TOKENS=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.pid = cmd.Process.Pid
	done := make(chan error, 1)
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			line := sc.Text()
			s.logs.add(line)
			if m := addrRE.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	select {
	case s.addr = <-addrc:
	case err := <-done:
		t.Fatalf("flowsteer serve exited early: %v\n%s", err, s.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("flowsteer serve did not report its address\n%s", s.logs)
	}
	return s
}

// conn dials the server as the holder of token.
func (s *server) conn(t *testing.T, token string) *grpc.ClientConn {
	t.Helper()
	opts, err := flowsteer.Credentials{Token: token}.DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(s.addr, append(opts, grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// rssBytes is the server process's resident memory.
func (s *server) rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, _ := strconv.ParseInt(f[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// mathTask is a small valid task.
func mathTask() *pb.Task {
	return &pb.Task{Id: "t1", Family: pb.TaskFamily_TASK_FAMILY_MATH, Source: "test", Question: "What is 6*7?", Answers: []string{"42"}}
}
