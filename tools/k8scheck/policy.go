package main

import (
	"fmt"
	"slices"
	"strings"
)

// exceptionAnnotation, set on a workload with the reason as its value,
// allows what the sandbox needs from the kernel and nothing else: an
// Unconfined seccomp or AppArmor profile (see
// deploy/kubernetes/components/sandbox-userns).
const exceptionAnnotation = "flowsteer.dev/security-exception"

// podTemplate returns the pod spec of a workload and its JSON pointer.
func podTemplate(o *object) (map[string]any, string, bool) {
	var p []string
	switch o.kind {
	case "Pod":
		p = []string{"spec"}
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		p = []string{"spec", "template", "spec"}
	case "CronJob":
		p = []string{"spec", "jobTemplate", "spec", "template", "spec"}
	default:
		return nil, "", false
	}
	spec, ok := dig(o.m, p...).(map[string]any)
	return spec, "/" + strings.Join(p, "/"), ok
}

// checkPolicy applies the deployment rules every workload follows (the
// Pod Security Standards' "restricted" profile and then some): it runs as
// non-root with a read-only root filesystem, no privilege escalation, no
// capabilities and a seccomp profile, without a service-account token,
// with resource requests and limits, and (when long-running) probes.
func checkPolicy(o *object, add func(*object, string, string)) {
	spec, at, ok := podTemplate(o)
	if !ok {
		return
	}
	exception := str(dig(o.m, "metadata", "annotations", exceptionAnnotation)) != ""
	is := func(v any, want any) bool { return v == want }

	if !is(spec["automountServiceAccountToken"], false) {
		add(o, at+"/automountServiceAccountToken", "must be false: no workload here talks to the Kubernetes API")
	}
	for _, k := range []string{"hostNetwork", "hostPID", "hostIPC"} {
		if is(spec[k], true) {
			add(o, at+"/"+k, "must not be true")
		}
	}
	psc, _ := spec["securityContext"].(map[string]any)
	if !is(dig(psc, "runAsNonRoot"), true) {
		add(o, at+"/securityContext/runAsNonRoot", "must be true")
	}
	if u, ok := num(dig(psc, "runAsUser")); ok && u == 0 {
		add(o, at+"/securityContext/runAsUser", "must not be 0")
	}
	// seccomp: set on the pod, or else on every container.
	podSeccomp := str(dig(psc, "seccompProfile", "type"))
	if podSeccomp != "" {
		checkProfile(o, at+"/securityContext/seccompProfile/type", "seccomp", podSeccomp, exception, add)
	}
	checkProfile(o, at+"/securityContext/appArmorProfile/type", "AppArmor", str(dig(psc, "appArmorProfile", "type")), exception, add)

	longRunning := o.kind == "Deployment" || o.kind == "StatefulSet" || o.kind == "DaemonSet"
	for _, list := range []string{"initContainers", "containers"} {
		cs, _ := spec[list].([]any)
		for i, x := range cs {
			c, _ := x.(map[string]any)
			cat := fmt.Sprintf("%s/%s/%d", at, list, i)
			sc, _ := c["securityContext"].(map[string]any)
			if !is(dig(sc, "allowPrivilegeEscalation"), false) {
				add(o, cat+"/securityContext/allowPrivilegeEscalation", "must be false")
			}
			if !is(dig(sc, "readOnlyRootFilesystem"), true) {
				add(o, cat+"/securityContext/readOnlyRootFilesystem", "must be true (mount an emptyDir where the program writes)")
			}
			if is(dig(sc, "privileged"), true) {
				add(o, cat+"/securityContext/privileged", "must not be true")
			}
			if u, ok := num(dig(sc, "runAsUser")); ok && u == 0 {
				add(o, cat+"/securityContext/runAsUser", "must not be 0")
			}
			if is(dig(sc, "runAsNonRoot"), false) {
				add(o, cat+"/securityContext/runAsNonRoot", "must not be false")
			}
			drop, _ := dig(sc, "capabilities", "drop").([]any)
			if !slices.Contains(drop, any("ALL")) {
				add(o, cat+"/securityContext/capabilities/drop", "must hold ALL")
			}
			if a, _ := dig(sc, "capabilities", "add").([]any); len(a) > 0 {
				add(o, cat+"/securityContext/capabilities/add", "must be empty")
			}
			if s := str(dig(sc, "seccompProfile", "type")); s != "" || podSeccomp == "" {
				checkProfile(o, cat+"/securityContext/seccompProfile/type", "seccomp", s, exception, add)
			}
			checkProfile(o, cat+"/securityContext/appArmorProfile/type", "AppArmor", str(dig(sc, "appArmorProfile", "type")), exception, add)
			for _, r := range []string{"requests/cpu", "requests/memory", "limits/cpu", "limits/memory"} {
				kind, name, _ := strings.Cut(r, "/")
				if dig(c, "resources", kind, name) == nil {
					add(o, cat+"/resources/"+r, "must be set")
				}
			}
			img := str(c["image"])
			if img == "" || !(strings.Contains(img, "@sha256:") || strings.Contains(img[strings.LastIndex(img, "/")+1:], ":")) ||
				strings.HasSuffix(img, ":latest") {
				add(o, cat+"/image", fmt.Sprintf("%q must carry a version tag or digest (not latest)", img))
			}
			if longRunning && list == "containers" {
				for _, p := range []string{"readinessProbe", "livenessProbe"} {
					if c[p] == nil {
						add(o, cat+"/"+p, "must be set on a long-running container")
					}
				}
			}
		}
	}
}

// checkProfile: seccomp must be RuntimeDefault or Localhost (set, for
// seccomp); Unconfined needs the exception annotation.
func checkProfile(o *object, field, what, typ string, exception bool, add func(*object, string, string)) {
	switch typ {
	case "RuntimeDefault", "Localhost":
	case "":
		if what == "seccomp" {
			add(o, field, "a seccomp profile must be set (RuntimeDefault)")
		}
	case "Unconfined":
		if !exception {
			add(o, field, fmt.Sprintf("an Unconfined %s profile needs the %s annotation giving the reason", what, exceptionAnnotation))
		}
	default:
		add(o, field, fmt.Sprintf("unknown %s profile type %q", what, typ))
	}
}

// dig walks nested maps; nil when a step is missing.
func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
