package main

import (
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one rendered Kubernetes object.
type object struct {
	kind, apiVersion, namespace, name string
	yaml                              []byte         // exactly as kustomize renders it
	m                                 map[string]any // the same, decoded
	// origin is the file defining it (or the kustomization generating
	// it), relative to the working directory. Patches from overlays are
	// not attributed: kustomize records every patch transformer on every
	// object, changed or not.
	origin string
}

// ref names the object in messages: Kind namespace/name (from FILE).
func (o object) ref() string {
	id := o.name
	if o.namespace != "" {
		id = o.namespace + "/" + o.name
	}
	s := o.kind + " " + id
	if o.origin != "" {
		s += " (from " + o.origin + ")"
	}
	return s
}

// render builds dir as `kustomize build dir` would (default options: load
// restricted to the kustomization root, no plugins) and returns its objects
// in output order, each with the file it comes from. The origins come from
// a second build through a throw-away kustomization that includes dir and
// asks for kustomize's origin annotations; the objects checked are those of
// the plain build.
func render(dir string) ([]object, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	fsys := filesys.MakeFsOnDisk()
	m, err := k.Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build: %w", err)
	}
	origins := originsOf(dir)
	var out []object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		var mm map[string]any
		if err := yaml.Unmarshal(y, &mm); err != nil {
			return nil, fmt.Errorf("%s %s: rendered YAML does not parse: %w", r.GetKind(), r.GetName(), err)
		}
		id := r.CurId().String()
		out = append(out, object{
			kind: r.GetKind(), apiVersion: r.GetApiVersion(), namespace: r.GetNamespace(), name: r.GetName(),
			yaml: y, m: mm, origin: origins[id],
		})
	}
	return out, nil
}

// originsOf maps each object id of dir's build to the file it was read or
// generated from. Best effort: without it the messages only lose the file
// names.
func originsOf(dir string) map[string]string {
	origins := map[string]string{}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return origins
	}
	wrap, err := os.MkdirTemp("", "k8scheck-origin-")
	if err != nil {
		return origins
	}
	defer os.RemoveAll(wrap)
	// kustomize takes bases by relative path only.
	target, err := filepath.Rel(wrap, abs)
	if err != nil {
		return origins
	}
	kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + filepath.ToSlash(target) +
		"\nbuildMetadata: [originAnnotations]\n"
	if err := os.WriteFile(filepath.Join(wrap, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		return origins
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), wrap)
	if err != nil {
		return origins
	}
	cwd, _ := os.Getwd()
	rel := func(p string) string {
		if p == "" {
			return ""
		}
		full := p
		if !filepath.IsAbs(full) {
			full = filepath.Join(wrap, p)
		}
		if r, err := filepath.Rel(cwd, full); err == nil {
			return r
		}
		return full
	}
	for _, r := range m.Resources() {
		id := r.CurId().String()
		if o, err := r.GetOrigin(); err == nil && o != nil {
			if o.ConfiguredIn != "" {
				// Generated (a ConfigMap from configMapGenerator, say).
				origins[id] = rel(o.ConfiguredIn)
			} else {
				origins[id] = rel(o.Path)
			}
		}
	}
	return origins
}

// kindOf reads the kind of a kustomization file (Kustomization when unset).
func kindOf(b []byte) string {
	var k struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(b, &k); err != nil || k.Kind == "" {
		return "Kustomization"
	}
	return k.Kind
}
