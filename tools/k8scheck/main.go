// Command k8scheck renders every kustomization under the given directories
// with kustomize (sigs.k8s.io/kustomize/api, krusty) and checks each
// rendered object, with no cluster:
//
//   - against the Kubernetes JSON schemas with kubeconform in strict mode
//     (unknown fields, wrong types, duplicate keys), for every Kubernetes
//     version given with -kubernetes-versions;
//   - against the project's deployment rules (security contexts, resources,
//     probes; see policy.go);
//   - across objects: references to ConfigMaps, Secrets, PVCs and service
//     accounts, Service selectors and ports, and the dns:/// targets of the
//     trainer configs, which must name headless Services of the same render
//     (see refs.go).
//
// The schemas come from the kubernetes-validate wheel on PyPI (pip
// downloads it, pinned by hash; see the Makefile's test-deploy): -wheel
// names it and the schemas of each version are extracted once under
// -schemas. Every problem is printed as
//
//	DIR: Kind namespace/name (from FILE[, patched in FILE]): /field/path: message
//
// and the exit status is 1 when there is any.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("k8scheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	schemas := fs.String("schemas", "", "directory holding (or receiving) the extracted schemas, one vX.Y.Z-local-strict directory per version")
	wheel := fs.String("wheel", "", "kubernetes-validate wheel (a file or a pattern matching one) to extract the schemas from when -schemas lacks a version")
	versions := fs.String("kubernetes-versions", "1.30.0,1.37.0", "comma-separated Kubernetes versions to validate against")
	print := fs.Bool("print", false, "print the rendered objects of each DIR (as `kustomize build DIR` would) instead of checking them")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: k8scheck -schemas DIR [-wheel FILE] [-kubernetes-versions V,...] DIR...")
		fmt.Fprintln(stderr, "       k8scheck -print DIR...")
		fmt.Fprintln(stderr, "Renders every kustomization found under each DIR (components excepted) and validates it.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *print && fs.NArg() > 0 {
		for _, d := range fs.Args() {
			objs, err := render(d)
			if err != nil {
				fmt.Fprintf(stderr, "k8scheck: %s: %v\n", d, err)
				return 1
			}
			for _, o := range objs {
				fmt.Fprintf(stdout, "---\n%s", o.yaml)
			}
		}
		return 0
	}
	if *schemas == "" || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	start := time.Now()
	vs := splitList(*versions)
	for _, v := range vs {
		if err := ensureSchemas(*schemas, *wheel, v); err != nil {
			fmt.Fprintln(stderr, "k8scheck:", err)
			return 2
		}
	}
	c, err := newChecker(*schemas, vs)
	if err != nil {
		fmt.Fprintln(stderr, "k8scheck:", err)
		return 2
	}
	var dirs []string
	for _, root := range fs.Args() {
		ds, err := findKustomizations(root)
		if err != nil {
			fmt.Fprintln(stderr, "k8scheck:", err)
			return 2
		}
		if len(ds) == 0 {
			fmt.Fprintf(stderr, "k8scheck: no kustomization under %s\n", root)
			return 2
		}
		dirs = append(dirs, ds...)
	}
	failed := 0
	for _, d := range dirs {
		rep := c.checkDir(d)
		if len(rep.problems) > 0 {
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %d objects, %d problems\n", d, len(rep.objects), len(rep.problems))
			for _, p := range rep.problems {
				fmt.Fprintf(stdout, "  %s\n", p)
			}
			continue
		}
		fmt.Fprintf(stdout, "ok   %s: %d objects valid for Kubernetes %s (%s)\n", d, len(rep.objects), strings.Join(vs, ", "), summary(rep.objects))
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "k8scheck: %d of %d kustomizations have problems\n", failed, len(dirs))
		return 1
	}
	fmt.Fprintf(stdout, "k8scheck: %d kustomizations, strict schemas and rules, %.1fs\n", len(dirs), time.Since(start).Seconds())
	return 0
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimPrefix(strings.TrimSpace(p), "v"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// findKustomizations lists the directories under root holding a
// kustomization file, components left out (they only build inside an
// overlay that uses them).
func findKustomizations(root string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !isKustomizationFile(d.Name()) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if kindOf(b) == "Component" {
			return nil
		}
		out = append(out, filepath.Dir(p))
		return nil
	})
	sort.Strings(out)
	return out, err
}

func isKustomizationFile(name string) bool {
	return name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization"
}

func summary(objs []object) string {
	n := map[string]int{}
	for _, o := range objs {
		n[o.kind]++
	}
	var kinds []string
	for k := range n {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n[k], k))
	}
	return strings.Join(parts, ", ")
}
