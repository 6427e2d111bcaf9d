package task

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pythonRunner is the tests' CodeRunner: plain python3 with a timeout and
// no isolation. Fine for tests of the project's own programs; real scoring
// goes through internal/sandbox. site: import the site module, and with it
// the installed packages (DS-1000's pandas), as the sandbox's interpreter
// does; without it python3 runs with -S.
type pythonRunner struct {
	exe, dir string
	site     bool
}

func (p pythonRunner) RunPython(ctx context.Context, code, stdin string, timeout time.Duration) (string, int, bool, error) {
	f, err := os.CreateTemp(p.dir, "prog-*.py")
	if err != nil {
		return "", 0, false, err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(code); err != nil {
		f.Close()
		return "", 0, false, err
	}
	f.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := []string{"-I", "-S", "-B", f.Name()}
	if p.site {
		args = []string{"-I", "-B", f.Name()}
	}
	cmd := exec.CommandContext(ctx, p.exe, args...)
	cmd.Dir = p.dir
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = time.Second
	var out bytes.Buffer
	cmd.Stdout = &out
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return out.String(), -1, true, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode(), false, nil
	}
	if err != nil {
		return out.String(), 0, false, err
	}
	return out.String(), 0, false, nil
}

var (
	pythonOnce sync.Once
	pythonExe  string
)

// needPython returns a runner, or skips the test where python3 is missing.
// The interpreter's real path is looked up once: version-manager shims
// (pyenv) cost more per start than the programs themselves.
func needPython(t *testing.T) pythonRunner {
	t.Helper()
	pythonOnce.Do(func() {
		out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
		if err == nil {
			pythonExe = strings.TrimSpace(string(out))
		}
	})
	if pythonExe == "" {
		t.Skip("python3 not found: code scoring needs it")
	}
	return pythonRunner{exe: pythonExe, dir: t.TempDir()}
}

// writeFile writes a test file and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
