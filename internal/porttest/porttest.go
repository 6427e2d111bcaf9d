// Package porttest finds a free loopback TCP port for tests that start a
// server process (llama.cpp, redis) which must be told its port up front.
package porttest

import (
	"net"
	"testing"
)

// Free returns a TCP port that was free on 127.0.0.1 a moment ago (the
// listener that found it is closed again, so another process may take it
// before the caller does; tests accept that small race).
func Free(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
