package trainer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowsteer/flowsteer/internal/auth"
	"github.com/flowsteer/flowsteer/internal/component"
	"github.com/flowsteer/flowsteer/internal/executor"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/runstore"
	"github.com/flowsteer/flowsteer/internal/trainer"
)

// What a client of the service may ask the server to do on its behalf.
// Run configs sent over TrainerService are client input: a file path or
// an environment variable named in them would be read on the server and
// its value sent to an address named in the same request, so with
// ClientConfigs on they may name credentials only by the names the
// operator declared (Credentials), and every address the run or an
// evaluation dials must pass AllowDial. `flowsteer train --config` runs
// the operator's own config and keeps every field.

// checkConfig vets a client's run config (see above).
func (s *Service) checkConfig(cfg trainer.Config) error {
	if !s.ClientConfigs {
		return nil
	}
	declared := "none: the operator declares them with flowsteer serve --credential NAME=token-file:PATH|env:VAR"
	if n := s.Credentials.Names(); len(n) > 0 {
		declared = strings.Join(n, ", ")
	}
	for _, a := range []struct {
		key   string
		creds map[string]string
	}{
		{"canvas", map[string]string{"ca_file": cfg.Canvas.Auth.CAFile, "cert_file": cfg.Canvas.Auth.CertFile, "key_file": cfg.Canvas.Auth.KeyFile, "token_file": cfg.Canvas.Auth.TokenFile, "token_env": cfg.Canvas.Auth.TokenEnv}},
		{"policy", map[string]string{"ca_file": cfg.Policy.Auth.CAFile, "cert_file": cfg.Policy.Auth.CertFile, "key_file": cfg.Policy.Auth.KeyFile, "token_file": cfg.Policy.Auth.TokenFile, "token_env": cfg.Policy.Auth.TokenEnv}},
	} {
		for _, field := range []string{"ca_file", "cert_file", "key_file", "token_file", "token_env"} {
			if a.creds[field] != "" {
				return status.Errorf(codes.PermissionDenied,
					"%s.auth.%s: a run config sent to this server may not name files or environment variables on it; name a credential its operator declared with %s.credential (declared: %s)",
					a.key, field, a.key, declared)
			}
		}
	}
	for key, name := range map[string]string{"canvas.credential": cfg.Canvas.Credential, "policy.credential": cfg.Policy.Credential, "backend.credential": cfg.Backend.Credential} {
		if name != "" && !s.Credentials.Has(name) {
			return status.Errorf(codes.PermissionDenied, "%s %q is not declared on this server (declared: %s)", key, auth.Clip(name, 64), declared)
		}
	}
	for i, a := range cfg.Canvas.Addresses {
		if err := s.checkDial(fmt.Sprintf("canvas.addresses[%d]", i), a); err != nil {
			return err
		}
	}
	pk, pset, err := cfg.PolicySpec()
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	pinfo, _ := policy.Kinds.Lookup(pk)
	if err := s.vetOptions("policy", pinfo.Options, pset, declared); err != nil {
		return err
	}
	bk, bset, err := cfg.BackendSpec()
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	binfo, _ := executor.Backends.Lookup(bk)
	if err := s.vetOptions("backend", binfo.Options, bset, declared); err != nil {
		return err
	}
	for i, l := range cfg.Canvas.Libraries {
		linfo, _ := operator.Libraries.Lookup(l.Kind)
		if err := s.vetOptions(fmt.Sprintf("canvas.libraries[%d].options", i), linfo.Options, l.Options, declared); err != nil {
			return err
		}
	}
	sinfo, _ := runstore.Kinds.Lookup(cfg.Store.KindOrDefault())
	return s.vetOptions("store", sinfo.Options, cfg.Store.Options, declared)
}

// vetOptions applies each set option's vet rule (component.Option.Vet) to
// a client's config: a server's files, environment variables and
// addresses are its operator's to name.
func (s *Service) vetOptions(section string, opts []component.Option, set map[string]any, declared string) error {
	for _, o := range opts {
		v, ok := set[o.Key]
		if !ok {
			continue
		}
		key := section + "." + o.Key
		var vals []string
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				vals = append(vals, fmt.Sprint(e))
			}
		case []string:
			vals = x
		default:
			vals = []string{fmt.Sprint(x)}
		}
		for _, val := range vals {
			if val == "" {
				continue
			}
			switch o.Vet {
			case "file", "env":
				if !s.ClientConfigs {
					continue // the server's operator lets clients name its files and variables
				}
				if o.Vet == "env" {
					return status.Errorf(codes.PermissionDenied,
						"%s: a run config sent to this server may not name its environment variables; name a credential its operator declared with %s.credential (declared: %s)", key, section, declared)
				}
				return status.Errorf(codes.PermissionDenied, "%s: a run config sent to this server may not name files on it", key)
			case "data":
				if _, err := s.dataPath(key, val); err != nil {
					return err
				}
			case "addr":
				if err := s.checkDial(key, val); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (s *Service) checkDial(key, addr string) error {
	if s.AllowDial == nil {
		return nil
	}
	if err := s.AllowDial.Check(addr); err != nil {
		return status.Errorf(codes.PermissionDenied, "%s: %v", key, err)
	}
	return nil
}

// runNotFound is the answer for a missing run and for another tenant's,
// alike, so that run names do not leak.
func (s *Service) runNotFound(id string) error {
	return status.Errorf(codes.NotFound, "no run %q under %s", auth.Clip(id, 128), s.RunsDir)
}

// canSee says whether the caller may see the run in dir.
func canSee(ctx context.Context, dir string) bool {
	owner, err := runstore.ReadOwner(dir)
	if err != nil {
		return false
	}
	return auth.CanAccess(ctx, owner)
}

// runsDirEntry reports whether dir is an existing directory.
func isDir(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// checkpointPath resolves a checkpoint a client names (Evaluate's
// policy.checkpoint) inside the caller's own run: RUN/FILE under RunsDir,
// where RUN is the caller's; another tenant's run is NotFound.
func (s *Service) checkpointPath(ctx context.Context, p string) (string, error) {
	full := filepath.Join(s.RunsDir, filepath.Clean("/"+p))
	rel, err := filepath.Rel(s.RunsDir, full)
	if err != nil || rel == "." {
		return "", status.Errorf(codes.InvalidArgument, "policy.checkpoint %q: name a file inside one of your runs (RUN/checkpoints/step-N.ckpt)", auth.Clip(p, 128))
	}
	run := strings.SplitN(rel, string(filepath.Separator), 2)[0]
	if !canSee(ctx, filepath.Join(s.RunsDir, run)) {
		return "", status.Errorf(codes.NotFound, "policy.checkpoint: no run %q under %s", auth.Clip(run, 128), s.RunsDir)
	}
	return full, nil
}
