package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCredentialsResolveDeclaredNamesOnly(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(file, []byte("# comment\n  file-secret  \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("I21_SECRET", "env-secret")
	c, err := NewCredentials([]string{"canvas=token-file:" + file, "llm=env:I21_SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"canvas": "file-secret", "llm": "env-secret"} {
		if got, err := c.Resolve(name); err != nil || got != want {
			t.Errorf("Resolve(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := c.Resolve("other"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("an undeclared name: %v", err)
	}
	if got := strings.Join(c.Names(), ","); got != "canvas,llm" {
		t.Errorf("Names = %s", got)
	}
	for _, bad := range []string{"x", "=env:A", "a b=env:A", "a=file:/x", "a=token-file:", "a=token-file:/no/such/file"} {
		if _, err := NewCredentials([]string{bad}); err == nil {
			t.Errorf("NewCredentials(%q) accepted", bad)
		}
	}
}

func TestDialAllowIsLoopbackByDefault(t *testing.T) {
	d, err := NewDialAllow(DefaultDialAllow)
	if err != nil {
		t.Fatal(err)
	}
	for addr, ok := range map[string]bool{
		"127.0.0.1:50051": true, "localhost:1": true, "[::1]:80": true, "dns:///localhost:50051": true,
		"http://127.0.0.1:8000/v1": true, "ipv4:127.0.0.1:1,127.0.0.2:2": true,
		"10.0.0.1:50051": false, "canvas.internal:50051": false, "http://169.254.169.254/latest": false,
		"dns://8.8.8.8/localhost:1": false, "unix:///var/run/x.sock": false, "ipv4:127.0.0.1:1,10.0.0.1:2": false,
	} {
		if err := d.Check(addr); (err == nil) != ok {
			t.Errorf("Check(%s) = %v, want allowed %v", addr, err, ok)
		}
	}
	d, err = NewDialAllow([]string{"10.0.0.0/8", "canvas.internal", "policy:9000"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, ok := range map[string]bool{"10.1.2.3:1": true, "canvas.internal:50051": true, "policy:9000": true, "policy:9001": false, "127.0.0.1:1": false} {
		if err := d.Check(addr); (err == nil) != ok {
			t.Errorf("Check(%s) = %v, want allowed %v", addr, err, ok)
		}
	}
	if _, err := NewDialAllow([]string{"10.0.0.0/99"}); err == nil {
		t.Error("a bad CIDR was accepted")
	}
}

func TestClipBoundsEchoedInput(t *testing.T) {
	long := strings.Repeat("é", 1<<20)
	got := Clip(long, 64)
	if len(got) > 100 || !strings.Contains(got, "bytes)") {
		t.Errorf("Clip = %q", got)
	}
}
