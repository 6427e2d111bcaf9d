// Package redistest starts a real Redis or Valkey server on a loopback
// port for tests of the executor's shared cache tier.
//
// The server binary comes from Debian's redis-server or valkey-server
// package (`make shared-cache-deps` installs it). Without one the tests
// skip, unless FLOWSTEER_REQUIRE_REDIS=1 (set by `make test-shared-cache`),
// which makes them fail instead.
package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/porttest"
)

// Server is one running server.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a server without persistence on a free loopback port and
// stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := ""
	for _, name := range []string{"valkey-server", "redis-server"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		if os.Getenv("FLOWSTEER_REQUIRE_REDIS") == "1" {
			t.Fatal("no redis-server or valkey-server on PATH: run make shared-cache-deps")
		}
		t.Skip("no redis-server or valkey-server on PATH (make shared-cache-deps installs one)")
	}
	port := porttest.Free(t)
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir(),
		"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %v", bin, s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server at once (SIGKILL), as a crashed or evicted cache
// pod would; it is safe to call more than once.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
	<-s.done
}

func (s *Server) String() string { return fmt.Sprintf("redis on %s", s.Addr) }
