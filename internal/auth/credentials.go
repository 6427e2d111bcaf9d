package auth

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
)

// Credentials are the secrets a server operator declares by name
// (`flowsteer serve --credential NAME=token-file:PATH|env:VAR`). Clients
// of the server may name them in run configs; they never see the values,
// and they cannot make the server read any other file or environment
// variable: a run config that names a path or a variable is refused by
// the service (see services/trainer), so secrets are server
// configuration, never client input.
type Credentials struct {
	mu  sync.Mutex
	src map[string]credentialSource
}

type credentialSource struct {
	file string // token-file:PATH: the first non-comment line
	env  string // env:VAR
}

// NewCredentials parses specs of the form NAME=token-file:PATH or
// NAME=env:VAR. Names are letters, digits, '-', '_' and '.'.
func NewCredentials(specs []string) (*Credentials, error) {
	c := &Credentials{src: map[string]credentialSource{}}
	for _, spec := range specs {
		name, what, ok := strings.Cut(spec, "=")
		if !ok || !validCredentialName(name) {
			return nil, fmt.Errorf("--credential %q: use NAME=token-file:PATH or NAME=env:VAR (NAME of letters, digits, '-', '_', '.')", spec)
		}
		if _, dup := c.src[name]; dup {
			return nil, fmt.Errorf("--credential %s is declared twice", name)
		}
		kind, arg, _ := strings.Cut(what, ":")
		switch {
		case kind == "token-file" && arg != "":
			if _, err := os.Stat(arg); err != nil {
				return nil, fmt.Errorf("--credential %s: %w", name, err)
			}
			c.src[name] = credentialSource{file: arg}
		case kind == "env" && arg != "":
			c.src[name] = credentialSource{env: arg}
		default:
			return nil, fmt.Errorf("--credential %s=%s: the source must be token-file:PATH or env:VAR", name, what)
		}
	}
	return c, nil
}

func validCredentialName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Names lists the declared credentials, sorted (for error messages: the
// names are not secret, the values are).
func (c *Credentials) Names() []string {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.src))
	for n := range c.src {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Has says whether name is declared.
func (c *Credentials) Has(name string) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.src[name]
	return ok
}

// ErrUnknownCredential: the name is not declared by the operator.
var ErrUnknownCredential = errors.New("unknown credential")

// Resolve returns the secret a declared name stands for, read now (a
// rotated token file is picked up by the next run). Errors never hold the
// value.
func (c *Credentials) Resolve(name string) (string, error) {
	if c == nil {
		return "", fmt.Errorf("%w %q: this process declares no credentials", ErrUnknownCredential, name)
	}
	c.mu.Lock()
	src, ok := c.src[name]
	c.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownCredential, name)
	}
	if src.env != "" {
		v := strings.TrimSpace(os.Getenv(src.env))
		if v == "" {
			return "", fmt.Errorf("credential %s: its environment variable is empty on the server", name)
		}
		return v, nil
	}
	data, err := os.ReadFile(src.file)
	if err != nil {
		return "", fmt.Errorf("credential %s: its token file cannot be read on the server", name)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			return line, nil
		}
	}
	return "", fmt.Errorf("credential %s: its token file holds no token", name)
}
