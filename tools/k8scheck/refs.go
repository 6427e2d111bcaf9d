package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// trainerConfigKey is the ConfigMap key holding a `flowsteer train
// --config` file; its canvas and policy targets are checked against the
// Services of the same render.
const trainerConfigKey = "trainer.yaml"

// checkRefs checks what a schema cannot: that the objects of one render
// fit together.
func checkRefs(objs []object, add func(*object, string, string)) {
	idx := map[string]*object{}
	key := func(kind, ns, name string) string { return kind + "|" + ns + "|" + name }
	for i := range objs {
		o := &objs[i]
		idx[key(o.kind, o.namespace, o.name)] = o
	}
	has := func(kind, ns, name string) *object { return idx[key(kind, ns, name)] }

	type pod struct {
		o      *object
		labels map[string]any
		spec   map[string]any
	}
	var pods []pod
	for i := range objs {
		o := &objs[i]
		spec, at, ok := podTemplate(o)
		if !ok {
			continue
		}
		labels, _ := dig(o.m, "metadata", "labels").(map[string]any)
		if o.kind != "Pod" {
			tpl := strings.TrimSuffix(at, "/spec")
			labels, _ = dig(o.m, strings.Split(strings.TrimPrefix(tpl, "/"), "/")...).(map[string]any)
			labels, _ = dig(labels, "metadata", "labels").(map[string]any)
			if sel, _ := dig(o.m, "spec", "selector", "matchLabels").(map[string]any); sel != nil && !matches(sel, labels) {
				add(o, "/spec/selector/matchLabels", "does not match the pod template's labels")
			}
		}
		pods = append(pods, pod{o, labels, spec})
		checkPodRefs(o, at, spec, has, add)
	}
	selected := func(ns string, sel map[string]any) []pod {
		var out []pod
		for _, p := range pods {
			if p.o.namespace == ns && matches(sel, p.labels) {
				out = append(out, p)
			}
		}
		return out
	}

	for i := range objs {
		o := &objs[i]
		switch o.kind {
		case "Service":
			sel, _ := dig(o.m, "spec", "selector").(map[string]any)
			if len(sel) == 0 {
				continue
			}
			ps := selected(o.namespace, sel)
			if len(ps) == 0 {
				add(o, "/spec/selector", "selects no pod template of this render")
				continue
			}
			ports, _ := dig(o.m, "spec", "ports").([]any)
			for j, x := range ports {
				tp := dig(x, "targetPort")
				name, isName := tp.(string)
				if !isName {
					continue
				}
				found := false
				for _, p := range ps {
					found = found || containerPortNamed(p.spec, name)
				}
				if !found {
					add(o, fmt.Sprintf("/spec/ports/%d/targetPort", j), fmt.Sprintf("no selected container has a port named %q", name))
				}
			}
		case "PodDisruptionBudget", "NetworkPolicy":
			path := []string{"spec", "selector", "matchLabels"}
			if o.kind == "NetworkPolicy" {
				path = []string{"spec", "podSelector", "matchLabels"}
			}
			if sel, _ := dig(o.m, path...).(map[string]any); len(sel) > 0 && len(selected(o.namespace, sel)) == 0 {
				add(o, "/"+strings.Join(path, "/"), "selects no pod template of this render")
			}
		case "ConfigMap":
			if cfg, ok := dig(o.m, "data", trainerConfigKey).(string); ok {
				checkTrainerConfig(o, cfg, has, add)
			}
		}
	}
}

// checkPodRefs: the ConfigMaps, Secrets, claims and service account a pod
// uses are part of the render (unless marked optional), and every volume
// mount names a volume.
func checkPodRefs(o *object, at string, spec map[string]any, has func(kind, ns, name string) *object, add func(*object, string, string)) {
	ns := o.namespace
	need := func(field, kind, name string, optional any) {
		if name == "" || optional == true {
			return
		}
		if has(kind, ns, name) == nil {
			add(o, field, fmt.Sprintf("%s %q is not part of this render", kind, name))
		}
	}
	if sa := str(spec["serviceAccountName"]); sa != "" && sa != "default" {
		need(at+"/serviceAccountName", "ServiceAccount", sa, nil)
	}
	volumes := map[string]bool{}
	vs, _ := spec["volumes"].([]any)
	for i, x := range vs {
		v, _ := x.(map[string]any)
		volumes[str(v["name"])] = true
		f := fmt.Sprintf("%s/volumes/%d", at, i)
		need(f+"/configMap/name", "ConfigMap", str(dig(v, "configMap", "name")), dig(v, "configMap", "optional"))
		need(f+"/secret/secretName", "Secret", str(dig(v, "secret", "secretName")), dig(v, "secret", "optional"))
		need(f+"/persistentVolumeClaim/claimName", "PersistentVolumeClaim", str(dig(v, "persistentVolumeClaim", "claimName")), nil)
	}
	for _, list := range []string{"initContainers", "containers"} {
		cs, _ := spec[list].([]any)
		for i, x := range cs {
			c, _ := x.(map[string]any)
			cat := fmt.Sprintf("%s/%s/%d", at, list, i)
			mounts, _ := c["volumeMounts"].([]any)
			for j, m := range mounts {
				if n := str(dig(m, "name")); !volumes[n] {
					add(o, fmt.Sprintf("%s/volumeMounts/%d/name", cat, j), fmt.Sprintf("no volume named %q", n))
				}
			}
			envFrom, _ := c["envFrom"].([]any)
			for j, e := range envFrom {
				f := fmt.Sprintf("%s/envFrom/%d", cat, j)
				need(f+"/configMapRef/name", "ConfigMap", str(dig(e, "configMapRef", "name")), dig(e, "configMapRef", "optional"))
				need(f+"/secretRef/name", "Secret", str(dig(e, "secretRef", "name")), dig(e, "secretRef", "optional"))
			}
			env, _ := c["env"].([]any)
			for j, e := range env {
				f := fmt.Sprintf("%s/env/%d/valueFrom", cat, j)
				cm := str(dig(e, "valueFrom", "configMapKeyRef", "name"))
				need(f+"/configMapKeyRef/name", "ConfigMap", cm, dig(e, "valueFrom", "configMapKeyRef", "optional"))
				if obj := has("ConfigMap", ns, cm); obj != nil {
					if k := str(dig(e, "valueFrom", "configMapKeyRef", "key")); dig(obj.m, "data", k) == nil {
						add(o, f+"/configMapKeyRef/key", fmt.Sprintf("ConfigMap %q has no key %q", cm, k))
					}
				}
				need(f+"/secretKeyRef/name", "Secret", str(dig(e, "valueFrom", "secretKeyRef", "name")), dig(e, "valueFrom", "secretKeyRef", "optional"))
			}
		}
	}
}

// checkTrainerConfig: every in-cluster canvas and policy address of a
// trainer config is a dns:/// target naming a headless Service of this
// render and one of its ports, so that gRPC resolves every pod behind it
// and balances over them.
func checkTrainerConfig(o *object, cfg string, has func(kind, ns, name string) *object, add func(*object, string, string)) {
	var c struct {
		Canvas struct {
			Addresses []string `json:"addresses"`
		} `json:"canvas"`
		Policy struct {
			Kind    string `json:"kind"`
			Address string `json:"address"`
		} `json:"policy"`
	}
	field := "/data/" + trainerConfigKey
	if err := yaml.Unmarshal([]byte(cfg), &c); err != nil {
		add(o, field, "does not parse: "+err.Error())
		return
	}
	targets := map[string]string{}
	for i, a := range c.Canvas.Addresses {
		targets[fmt.Sprintf("canvas.addresses[%d]", i)] = a
	}
	if c.Policy.Kind == "remote" {
		targets["policy.address"] = c.Policy.Address
	}
	for _, k := range sortedKeys(targets) {
		if msg := checkTarget(targets[k], o.namespace, has); msg != "" {
			add(o, field, k+": "+msg)
		}
	}
}

func checkTarget(target, ns string, has func(kind, ns, name string) *object) string {
	rest, ok := strings.CutPrefix(target, "dns:///")
	if !ok {
		return fmt.Sprintf("%q: use a dns:///NAME.NAMESPACE.svc.cluster.local:PORT target (a headless Service), so gRPC sees every pod", target)
	}
	host, portS, err := net.SplitHostPort(rest)
	if err != nil {
		return fmt.Sprintf("%q: %v", target, err)
	}
	port, err := strconv.Atoi(portS)
	if err != nil {
		return fmt.Sprintf("%q: port %q is not a number", target, portS)
	}
	parts := strings.Split(host, ".")
	name, svcNS := parts[0], ns
	switch {
	case len(parts) == 1:
	case len(parts) >= 3 && parts[2] == "svc":
		svcNS = parts[1]
	default:
		// Outside the cluster's service names: nothing to check here.
		return ""
	}
	svc := has("Service", svcNS, name)
	if svc == nil {
		return fmt.Sprintf("%q: there is no Service %s/%s in this render", target, svcNS, name)
	}
	if str(dig(svc.m, "spec", "clusterIP")) != "None" {
		return fmt.Sprintf("%q: Service %s/%s is not headless (spec.clusterIP: None): DNS would return one virtual IP and gRPC would keep one connection to one pod", target, svcNS, name)
	}
	ports, _ := dig(svc.m, "spec", "ports").([]any)
	for _, p := range ports {
		if n, ok := num(dig(p, "port")); ok && int(n) == port {
			return ""
		}
	}
	return fmt.Sprintf("%q: Service %s/%s has no port %d", target, svcNS, name, port)
}

func matches(sel, labels map[string]any) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func containerPortNamed(spec map[string]any, name string) bool {
	cs, _ := spec["containers"].([]any)
	for _, c := range cs {
		ports, _ := dig(c, "ports").([]any)
		for _, p := range ports {
			if str(dig(p, "name")) == name {
				return true
			}
		}
	}
	return false
}
