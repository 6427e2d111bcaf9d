package executor

import (
	"slices"
	"strings"
	"testing"
)

func namedFake(name string) *fakeBackend {
	f := newFake()
	f.name = name
	return f
}

func TestRegistryFirstRegisteredIsDefault(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	for _, n := range []string{"vllm", "sim", "openai"} {
		if err := r.Register(namedFake(n)); err != nil {
			t.Fatalf("Register(%s): %v", n, err)
		}
	}
	b, err := r.Get("")
	if err != nil || b.Name() != "vllm" {
		t.Fatalf("Get(\"\") = %v, %v; want vllm", b, err)
	}
	if b, err := r.Get("sim"); err != nil || b.Name() != "sim" {
		t.Errorf("Get(sim) = %v, %v", b, err)
	}
	if got := r.Names(); !slices.Equal(got, []string{"openai", "sim", "vllm"}) {
		t.Errorf("Names = %v, want sorted", got)
	}
}

func TestRegistrySetDefaultChangesEmptyNameLookup(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	r.Register(namedFake("a"))
	r.Register(namedFake("b"))
	if err := r.SetDefault("b"); err != nil {
		t.Fatal(err)
	}
	if b, _ := r.Get(""); b.Name() != "b" || r.Default() != "b" {
		t.Errorf("default = %s, want b", b.Name())
	}
	if err := r.SetDefault("c"); err == nil || !strings.Contains(err.Error(), "known are a, b") {
		t.Errorf("SetDefault(c) = %v, want an unknown-name error listing a, b", err)
	}
}

func TestRegistryRejectsBadRegistrationsAndLookups(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	if _, err := r.Get(""); err == nil || !strings.Contains(err.Error(), "no backend is registered") {
		t.Errorf("Get on empty registry = %v", err)
	}
	if _, err := r.Get("x"); err == nil || !strings.Contains(err.Error(), "none is registered") {
		t.Errorf("Get(x) on empty registry = %v", err)
	}
	if err := r.Register(nil); err == nil {
		t.Error("Register(nil) succeeded")
	}
	if err := r.Register(namedFake("")); err == nil {
		t.Error("Register of an unnamed backend succeeded")
	}
	if err := r.Register(namedFake("local")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(namedFake("remote")); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(namedFake("local")); err == nil || !strings.Contains(err.Error(), `"local" is already registered`) {
		t.Errorf("duplicate Register = %v", err)
	}
	_, err := r.Get("gpt")
	if err == nil || err.Error() != `unknown executor backend "gpt": known are local, remote` {
		t.Errorf("Get(gpt) = %v", err)
	}
}

func TestRegistryZeroValueIsUsable(t *testing.T) {
	t.Parallel()
	var r Registry
	if err := r.Register(namedFake("a")); err != nil {
		t.Fatal(err)
	}
	if b, err := r.Get(""); err != nil || b.Name() != "a" {
		t.Errorf("Get(\"\") = %v, %v", b, err)
	}
}
