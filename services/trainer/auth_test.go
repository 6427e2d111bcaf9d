package trainer

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/server"
	"github.com/flowsteer/flowsteer/internal/server/servertest"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/trainer"
	canvassvc "github.com/flowsteer/flowsteer/services/canvas"
)

// startGuardedCanvas serves a canvas on loopback that accepts one bearer
// token, as `flowsteer serve --auth-token-file` does.
func startGuardedCanvas(t *testing.T, token string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("trainer:"+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokenStore(auth.TokenOptions{File: file})
	if err != nil {
		t.Fatal(err)
	}
	g := auth.NewGuard(auth.Config{Tokens: tokens})
	sys, err := system.Build(system.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	v := server.Validators{}
	canvassvc.AddValidators(v)
	return servertest.Loopback(t, server.Options{Logger: servertest.Discard(), Validators: v,
		GuardUnary: g.Unary(), GuardStream: g.Stream()}, func(s *server.Server) {
		canvassvc.Register(s, canvassvc.New(sys.Canvas))
	})
}

// canvas.auth carries the trainer's token to remote canvases; without it a
// guarded canvas refuses the run's episodes as Unauthenticated.
func TestTrainerSendsCanvasToken(t *testing.T) {
	const token = "trainer-token-0123456789abcdef"
	addr := startGuardedCanvas(t, token)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		auth     func(c *trainer.Credentials)
		wantCode codes.Code
	}{
		{"token file", func(c *trainer.Credentials) { c.TokenFile = tokenFile }, codes.OK},
		{"no token", func(*trainer.Credentials) {}, codes.Unauthenticated},
		{"wrong token", func(c *trainer.Credentials) { c.Token = "not-the-token-0123456789abcdef" }, codes.Unauthenticated},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fanoutConfig(addr)
			tc.auth(&cfg.Canvas.Auth)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			p, err := Prepare(ctx, cfg, Options{Dir: filepath.Join(t.TempDir(), "run"), Observer: &episodeLog{}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			m, err := p.Trainer.Step(ctx, 1)
			if tc.wantCode == codes.OK {
				if err != nil {
					t.Fatalf("step: %v", err)
				}
				if m.GetEpisodes() != 8 || m.GetFailedEpisodes() != 0 {
					t.Fatalf("episodes %d failed %d, want 8 and 0", m.GetEpisodes(), m.GetFailedEpisodes())
				}
				return
			}
			if err == nil {
				t.Fatalf("step succeeded with %d failed episodes; want it refused", m.GetFailedEpisodes())
			}
			if status.Code(err) != tc.wantCode && !strings.Contains(err.Error(), tc.wantCode.String()) {
				t.Fatalf("step error %v, want %v", err, tc.wantCode)
			}
		})
	}
}
