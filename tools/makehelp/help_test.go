// Package makehelp holds only a test: `make help` names every .PHONY
// target of the repository's Makefile, so a target added without a help
// line fails `make check` and `make test-go`.
package makehelp

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// phonyTargets lists the targets of every ".PHONY:" line, in file order.
func phonyTargets(t *testing.T, makefile string) []string {
	t.Helper()
	f, err := os.Open(makefile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), ".PHONY:"); ok {
			out = append(out, strings.Fields(rest)...)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMakeHelpNamesEveryPhonyTarget(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed")
	}
	targets := phonyTargets(t, filepath.Join(root, "Makefile"))
	if len(targets) < 10 {
		t.Fatalf("found %d .PHONY targets in the Makefile; the parser is wrong", len(targets))
	}
	cmd := exec.Command(makeBin, "-s", "--no-print-directory", "-C", root, "help")
	cmd.Env = append(os.Environ(), "MAKEFLAGS=", "MAKELEVEL=") // run from inside make check: a fresh make, not a sub-make
	help, err := cmd.Output()
	if err != nil {
		t.Fatalf("make help: %v", err)
	}
	for _, target := range targets {
		// "make TARGET" followed by a space, a colon or the line's end,
		// so that "make test" is not found inside "make test-go".
		if !regexp.MustCompile(`(?m)\bmake ` + regexp.QuoteMeta(target) + `( |:|$)`).Match(help) {
			t.Errorf("make help does not list %q: add an @echo \"make %s ...\" line to the help target", target, target)
		}
	}
}
