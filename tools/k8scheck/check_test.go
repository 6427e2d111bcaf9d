package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
)

// schemaDir is where `make test-deploy` extracted the schemas; the checks
// that validate need it.
func schemaDir(t *testing.T) (string, []string) {
	t.Helper()
	dir := os.Getenv("K8SCHECK_SCHEMAS")
	if dir == "" {
		t.Skip("K8SCHECK_SCHEMAS is not set: `make test-deploy` downloads and extracts the schemas and runs these tests")
	}
	vs := splitList(os.Getenv("K8SCHECK_VERSIONS"))
	if len(vs) == 0 {
		vs = []string{"1.30.0", "1.37.0"}
	}
	return dir, vs
}

// One checker for the tests: it caches the compiled schemas.
var (
	sharedOnce    sync.Once
	shared        *checker
	sharedFailure error
)

func problems(t *testing.T, dir string) []string {
	t.Helper()
	schemas, vs := schemaDir(t)
	sharedOnce.Do(func() { shared, sharedFailure = newChecker(schemas, vs) })
	if sharedFailure != nil {
		t.Fatal(sharedFailure)
	}
	c := shared
	var out []string
	for _, p := range c.checkDir(dir).problems {
		out = append(out, p.String())
	}
	return out
}

// The broken fixtures hold one mistake of each kind k8scheck is for; each
// must be reported, naming the file, the object and the field.
func TestRejectsBrokenManifests(t *testing.T) {
	want := []string{
		// schema, strict
		"Deployment broken/web (from testdata/broken/base/deployment.yaml): /spec/replicas: got string, want null or integer [schema",
		"Deployment broken/web (from testdata/broken/base/deployment.yaml): /spec/template/spec/containers/0: additional properties 'livenesProbe' not allowed [schema",
		"Deploymnet broken/typo (from testdata/broken/base/typo.yaml): /kind: could not find schema for Deploymnet",
		// rules
		"/spec/template/spec/securityContext/runAsNonRoot: must be true",
		"/spec/template/spec/automountServiceAccountToken: must be false",
		"/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem: must be true",
		"/spec/template/spec/containers/0/securityContext/capabilities/drop: must hold ALL",
		"/spec/template/spec/containers/0/securityContext/seccompProfile/type: a seccomp profile must be set",
		"/spec/template/spec/containers/0/resources/limits/memory: must be set",
		`/spec/template/spec/containers/0/image: "nginx" must carry a version tag`,
		"/spec/template/spec/containers/0/readinessProbe: must be set",
		// references
		`/spec/template/spec/containers/0/volumeMounts/0/name: no volume named "cache"`,
		"Service broken/web (from testdata/broken/base/service.yaml): /spec/selector: selects no pod template",
		`/data/trainer.yaml: canvas.addresses[0]: "dns:///flowsteer-canvas.elsewhere.svc.cluster.local:50051": there is no Service elsewhere/flowsteer-canvas in this render`,
		`/data/trainer.yaml: canvas.addresses[1]: "flowsteer-canvas:50051": use a dns:///`,
	}
	got := problems(t, "testdata/broken/base")
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("missing problem %q", w)
		}
	}
	if t.Failed() {
		t.Logf("problems reported:\n%s", all)
	}
	// An overlay's patch that adds an unknown field is caught too.
	over := strings.Join(problems(t, "testdata/broken/overlay"), "\n")
	if !strings.Contains(over, "testdata/broken/overlay: Deployment broken/web (from testdata/broken/base/deployment.yaml): /spec/template/spec/containers/0: additional properties 'livenesProbe', 'resource' not allowed") {
		t.Errorf("the overlay's unknown field is not reported as one finding for both versions:\n%s", over)
	}
}

func TestAcceptsValidManifests(t *testing.T) {
	if got := problems(t, "testdata/good"); len(got) > 0 {
		t.Fatalf("valid fixture rejected:\n%s", strings.Join(got, "\n"))
	}
}

func TestExitStatus(t *testing.T) {
	schemas, vs := schemaDir(t)
	args := []string{"-schemas", schemas, "-kubernetes-versions", strings.Join(vs, ",")}
	var out, errOut bytes.Buffer
	if code := run(append(args, "testdata"), &out, &errOut); code != 1 {
		t.Fatalf("exit %d over the fixtures (broken ones included), want 1\n%s%s", code, out.String(), errOut.String())
	}
	for _, w := range []string{"FAIL testdata/broken/base", "FAIL testdata/broken/overlay", "ok   testdata/good"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q:\n%s", w, out.String())
		}
	}
	out.Reset()
	if code := run(append(args, "testdata/good"), &out, &errOut); code != 0 {
		t.Fatalf("exit %d over the valid fixture, want 0\n%s%s", code, out.String(), errOut.String())
	}
}

func TestFindKustomizationsSkipsComponents(t *testing.T) {
	dir := t.TempDir()
	for path, kind := range map[string]string{"a": "Kustomization", "b/c": "Component", "d": ""} {
		if err := os.MkdirAll(dir+"/"+path, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "resources: []\n"
		if kind != "" {
			body = "kind: " + kind + "\n" + body
		}
		if err := os.WriteFile(dir+"/"+path+"/kustomization.yaml", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := findKustomizations(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != dir+"/a" || got[1] != dir+"/d" {
		t.Fatalf("got %v, want a and d (b/c is a component)", got)
	}
}

// Extraction makes the wheel's schemas resolvable from disk: no $id, and
// references to the shared definitions relative to the file.
func TestLocalizeSchema(t *testing.T) {
	in := `{"$id": "https://kubernetes.io/api/deployment/apps/v1", "$schema": "https://json-schema.org/draft/2020-12/schema",
		"properties": {"spec": {"$ref": "/api/_definitions.json#/$defs/io.k8s.api.apps.v1.DeploymentSpec"},
		"items": [{"$ref": "#/$defs/local"}], "weird": {"$ref": {"type": "string"}}}}`
	out, err := localizeSchema([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["$id"]; ok {
		t.Errorf("$id kept: %s", out)
	}
	for _, w := range []string{`"$ref":"_definitions.json#/$defs/io.k8s.api.apps.v1.DeploymentSpec"`, `"$ref":"#/$defs/local"`, `"$ref":{"type":"string"}`, `"$schema":"https://json-schema.org/draft/2020-12/schema"`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %s: %s", w, out)
		}
	}
}

func TestErrorLeaves(t *testing.T) {
	err := errors.New("problem validating schema. Check JSON formatting: jsonschema validation failed with 'file:///x/job-batch-v1.json#' " +
		"- at '/spec': validation failed   - at '/spec/podFailurePolicy/rules/0/onPodConditions/0': missing property 'status'   - at '/metadata/name': got number, want string")
	got := errorLeaves(err)
	want := [][2]string{
		{"/spec/podFailurePolicy/rules/0/onPodConditions/0", "missing property 'status'"},
		{"/metadata/name", "got number, want string"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("leaf %d: got %q, want %q", i, got[i], want[i])
		}
	}
	if n := normalize("additional properties 'b', 'a' not allowed"); n != "additional properties 'a', 'b' not allowed" {
		t.Errorf("normalize: %q", n)
	}
}

// Unconfined seccomp/AppArmor passes only with the exception annotation
// (components/sandbox-userns), and the rest of the rules still apply.
func TestSecurityExceptionIsNarrow(t *testing.T) {
	mk := func(annotated bool) *object {
		meta := map[string]any{"name": "canvas"}
		if annotated {
			meta["annotations"] = map[string]any{exceptionAnnotation: "the sandbox needs namespaces"}
		}
		c := map[string]any{
			"name": "canvas", "image": "flowsteer:1",
			"readinessProbe": map[string]any{}, "livenessProbe": map[string]any{},
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "1", "memory": "1Gi"},
				"limits":   map[string]any{"cpu": "1", "memory": "1Gi"},
			},
			"securityContext": map[string]any{
				"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
				"capabilities":    map[string]any{"drop": []any{"ALL"}, "add": []any{"SYS_ADMIN"}},
				"seccompProfile":  map[string]any{"type": "Unconfined"},
				"appArmorProfile": map[string]any{"type": "Unconfined"},
			},
		}
		spec := map[string]any{
			"automountServiceAccountToken": false,
			"securityContext":              map[string]any{"runAsNonRoot": true, "seccompProfile": map[string]any{"type": "RuntimeDefault"}},
			"containers":                   []any{c},
		}
		return &object{kind: "Deployment", name: "canvas", m: map[string]any{
			"metadata": meta, "spec": map[string]any{"template": map[string]any{"spec": spec}},
		}}
	}
	collect := func(o *object) string {
		var got []string
		checkPolicy(o, func(_ *object, field, msg string) { got = append(got, field+": "+msg) })
		return strings.Join(got, "\n")
	}
	plain := collect(mk(false))
	for _, w := range []string{
		"/spec/template/spec/containers/0/securityContext/seccompProfile/type: an Unconfined seccomp profile needs the " + exceptionAnnotation,
		"/spec/template/spec/containers/0/securityContext/appArmorProfile/type: an Unconfined AppArmor profile needs",
		"/spec/template/spec/containers/0/securityContext/capabilities/add: must be empty",
	} {
		if !strings.Contains(plain, w) {
			t.Errorf("without the annotation: missing %q in\n%s", w, plain)
		}
	}
	annotated := collect(mk(true))
	if strings.Contains(annotated, "Unconfined") {
		t.Errorf("with the annotation, Unconfined is still reported:\n%s", annotated)
	}
	if !strings.Contains(annotated, "capabilities/add: must be empty") {
		t.Errorf("the annotation must not excuse added capabilities:\n%s", annotated)
	}
}
