// Package testbin builds the flowsteer binary once per test process for the
// test packages under tests/ that start it as a real process.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	path string
	err  error
)

// Flowsteer returns the path of a flowsteer binary built from this checkout's
// cmd/flowsteer, building it on the first call; a failed build fails t.
func Flowsteer(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		_, self, _, _ := runtime.Caller(0)
		src := filepath.Join(filepath.Dir(self), "..", "..", "cmd", "flowsteer")
		dir, e := os.MkdirTemp("", "flowsteer-test-")
		if e != nil {
			err = e
			return
		}
		path = filepath.Join(dir, "flowsteer")
		if out, e := exec.Command("go", "build", "-o", path, src).CombinedOutput(); e != nil {
			err = fmt.Errorf("%v\n%s", e, out)
		}
	})
	if err != nil {
		t.Fatalf("build flowsteer: %v", err)
	}
	return path
}
