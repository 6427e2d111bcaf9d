package remote

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowsteer/flowsteer/internal/operator"
)

func TestRemoteKindOptions(t *testing.T) {
	c, err := operator.Libraries.Decode(Kind, map[string]any{"addr": "127.0.0.1:50060"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.(Config); got.DialTimeout != 30*time.Second {
		t.Errorf("dial_timeout defaults to %v, want 30s (what serve always waited)", got.DialTimeout)
	}
	for want, set := range map[string]map[string]any{
		"remote.addr is required": {},
		"remote.dial_timeout":     {"addr": "x:1", "dial_timeout": "0s"},
		`has no option "timeout"`: {"addr": "x:1", "timeout": "1s"},
	} {
		if _, err := operator.Libraries.Decode(Kind, set); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", set, err, want)
		}
	}
}

func TestRemoteKindNeedsTheEntryPointsDial(t *testing.T) {
	c, _ := operator.Libraries.Decode(Kind, map[string]any{"addr": "x:1"})
	ctx := context.Background()
	if _, err := operator.Libraries.Create(ctx, Kind, c, operator.LibraryDeps{Name: "team"}); err == nil || !strings.Contains(err.Error(), "cannot connect") {
		t.Errorf("no Dial: %v", err)
	}
	refused := errors.New("refused")
	if _, err := operator.Libraries.Create(ctx, Kind, c, operator.LibraryDeps{Name: "team", Dial: func(context.Context, string) (any, error) { return nil, refused }}); !errors.Is(err, refused) || !strings.Contains(err.Error(), "remote.addr x:1") {
		t.Errorf("failing Dial: %v", err)
	}
	if _, err := operator.Libraries.Create(ctx, Kind, c, operator.LibraryDeps{Name: "team", Dial: func(context.Context, string) (any, error) { return "not a conn", nil }}); err == nil || !strings.Contains(err.Error(), "not a gRPC connection") {
		t.Errorf("a Dial that is not gRPC: %v", err)
	}
}
