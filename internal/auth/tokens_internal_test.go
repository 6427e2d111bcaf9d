package auth

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The file is re-read once the reload interval has passed, not before.
func TestTokenReloadInterval(t *testing.T) {
	const alice, bob = "alice-token-0123456789abcdef", "bob-token-0123456789abcdef"
	path := filepath.Join(t.TempDir(), "tokens")
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("alice:" + alice + "\n")
	now := time.Unix(1000, 0)
	s, err := NewTokenStore(TokenOptions{File: path, Reload: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	s.lastCheck = now
	write("bob:" + bob + "\n")
	steps := []struct {
		after        time.Duration
		alice, bobOK bool
	}{
		{after: 0, alice: true, bobOK: false},
		{after: 999 * time.Millisecond, alice: true, bobOK: false},
		{after: 2 * time.Millisecond, alice: false, bobOK: true},
	}
	for i, st := range steps {
		now = now.Add(st.after)
		if _, ok := s.Lookup(alice); ok != st.alice {
			t.Errorf("step %d: alice accepted %v, want %v", i, ok, st.alice)
		}
		if name, ok := s.Lookup(bob); ok != st.bobOK || (ok && name != "bob") {
			t.Errorf("step %d: bob accepted %v as %q, want %v", i, ok, name, st.bobOK)
		}
	}
}
