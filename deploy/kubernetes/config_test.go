// Package kubernetes holds no code: its test loads the trainer configs of
// the Kubernetes manifests (base and overlays) with the trainer's own
// loader, so that a config the Job would reject at start-up fails here.
// The manifests themselves are rendered and validated by tools/k8scheck
// (make test-deploy).
package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/flowsteer/flowsteer/internal/trainer"
)

// kustomization is the part of a kustomization.yaml this test reads.
type kustomization struct {
	Namespace          string   `yaml:"namespace"`
	Resources          []string `yaml:"resources"`
	ConfigMapGenerator []struct {
		Name     string   `yaml:"name"`
		Files    []string `yaml:"files"`
		Literals []string `yaml:"literals"`
	} `yaml:"configMapGenerator"`
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	return k
}

// inherited looks up a setting in dir's kustomization, then in the
// directories it builds on, first found wins (as kustomize does for the
// namespace and for generators an overlay replaces).
func inherited(t *testing.T, dir string, get func(kustomization) (string, bool)) (string, bool) {
	t.Helper()
	k := readKustomization(t, dir)
	if v, ok := get(k); ok {
		return v, true
	}
	for _, r := range k.Resources {
		sub := filepath.Join(dir, r)
		if fi, err := os.Stat(sub); err == nil && fi.IsDir() {
			if v, ok := inherited(t, sub, get); ok {
				return v, true
			}
		}
	}
	return "", false
}

// executorLiteral is KEY's value in the flowsteer-executor ConfigMap that
// dir's build uses.
func executorLiteral(t *testing.T, dir, key string) string {
	v, _ := inherited(t, dir, func(k kustomization) (string, bool) {
		for _, g := range k.ConfigMapGenerator {
			if g.Name != "flowsteer-executor" {
				continue
			}
			for _, l := range g.Literals {
				if name, val, ok := strings.Cut(l, "="); ok && name == key {
					return val, true
				}
			}
		}
		return "", false
	})
	return v
}

func TestTrainerConfigsLoadAndPointAtTheirNamespace(t *testing.T) {
	var dirs []string
	err := filepath.WalkDir(".", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == "trainer-config.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) < 3 {
		t.Fatalf("found trainer configs in %v, want base and both overlays", dirs)
	}
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join(dir, "trainer-config.yaml")
			cfg, err := trainer.LoadConfig(path)
			if err != nil {
				t.Fatalf("the trainer rejects it: %v", err)
			}
			// The kustomization mounts this file as the Job's trainer.yaml.
			k := readKustomization(t, dir)
			mounted := false
			for _, g := range k.ConfigMapGenerator {
				for _, f := range g.Files {
					mounted = mounted || (g.Name == "flowsteer-trainer-config" && f == "trainer.yaml=trainer-config.yaml")
				}
			}
			if !mounted {
				t.Errorf("%s/kustomization.yaml does not generate flowsteer-trainer-config from trainer.yaml=trainer-config.yaml", dir)
			}
			ns, ok := inherited(t, dir, func(k kustomization) (string, bool) { return k.Namespace, k.Namespace != "" })
			if !ok {
				t.Fatalf("no namespace set for %s", dir)
			}
			want := "dns:///flowsteer-canvas." + ns + ".svc.cluster.local:50051"
			if len(cfg.Canvas.Addresses) != 1 || cfg.Canvas.Addresses[0] != want {
				t.Errorf("canvas.addresses = %q, want [%q] (the headless Service of namespace %s)", cfg.Canvas.Addresses, want, ns)
			}
			if cfg.Policy.Kind != "remote" {
				t.Errorf("policy.kind = %q, want remote (the flowsteer-policy Deployment)", cfg.Policy.Kind)
			}
			if want := "dns:///flowsteer-policy." + ns + ".svc.cluster.local:50051"; cfg.Policy.Address != want {
				t.Errorf("policy.address = %q, want %q", cfg.Policy.Address, want)
			}
			// backend only labels a run whose canvases are remote: it must
			// say what the canvases run.
			if got, want := cfg.Backend.Kind, executorLiteral(t, dir, "FLOWSTEER_BACKEND"); got != want {
				t.Errorf("backend.kind = %q but the canvases run FLOWSTEER_BACKEND=%q", got, want)
			}
			if cfg.Backend.Kind == "openai" {
				if got, want := cfg.Backend.BaseURL, executorLiteral(t, dir, "FLOWSTEER_BASE_URL"); got != want {
					t.Errorf("backend.base_url = %q but the canvases use %q", got, want)
				}
				if got, want := cfg.Backend.Model, executorLiteral(t, dir, "FLOWSTEER_MODEL"); got != want {
					t.Errorf("backend.model = %q but the canvases use %q", got, want)
				}
			}
		})
	}
}
