package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/flowsteer/flowsteer/internal/trainer"
)

// setOverride is one `--set key=value`: a dotted path into the run
// config's YAML tree and a YAML value (3, true, [math, qa], a string).
type setOverride struct {
	raw   string
	path  []string
	value *yaml.Node
}

func parseSetFlags(sets []string) ([]setOverride, error) {
	out := make([]setOverride, 0, len(sets))
	for _, raw := range sets {
		key, val, ok := strings.Cut(raw, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("--set %q: want key=value (a dotted key such as policy.address)", raw)
		}
		path := strings.Split(key, ".")
		for _, p := range path {
			if p == "" {
				return nil, fmt.Errorf("--set %q: empty part in key %q", raw, key)
			}
		}
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(val), &doc); err != nil {
			return nil, fmt.Errorf("--set %q: value: %w", raw, err)
		}
		v := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		if len(doc.Content) > 0 { // an empty value is null, as in YAML
			v = doc.Content[0]
		}
		out = append(out, setOverride{raw: raw, path: path, value: v})
	}
	return out, nil
}

// apply sets o's key in the mapping root, creating the mappings on the
// way; a key that holds a scalar or a list on the way is an error, not a
// silent replacement of the whole subtree.
func (o setOverride) apply(root *yaml.Node) error {
	m := root
	for i, k := range o.path {
		if m.Kind != yaml.MappingNode {
			return fmt.Errorf("--set %s: %s is not a mapping", o.raw, strings.Join(o.path[:i], "."))
		}
		var next *yaml.Node
		for j := 0; j+1 < len(m.Content); j += 2 {
			if m.Content[j].Value == k {
				next = m.Content[j+1]
				if i == len(o.path)-1 {
					m.Content[j+1] = o.value
				}
				break
			}
		}
		if i == len(o.path)-1 {
			if next == nil {
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, o.value)
			}
			return nil
		}
		if next == nil || (next.Kind == yaml.ScalarNode && next.Tag == "!!null") {
			created := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			if next == nil {
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, created)
			} else {
				*next = *created
				created = next
			}
			next = created
		}
		m = next
	}
	return nil
}

// applySets applies the overrides, in order, to the YAML document base
// (empty: the defaults) and returns the document they give. Keys are not
// checked here: the config's strict decoding does that, and
// configWithSets names the --set that brought an unknown key in.
func applySets(base []byte, sets []setOverride) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(base, &doc); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(doc.Content) == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		*root = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	for _, o := range sets {
		if err := o.apply(root); err != nil {
			return nil, err
		}
	}
	return yaml.Marshal(&doc)
}

// configWithSets decodes base (a run config's YAML; nil for the defaults)
// with the --set overrides applied to its tree before decoding, so every
// key the YAML file takes can be set and an unknown one fails as it would
// in the file. When the result does not decode, each override is tried
// alone to name the one at fault.
func configWithSets(base []byte, raw []string) (trainer.Config, error) {
	sets, err := parseSetFlags(raw)
	if err != nil {
		return trainer.Config{}, err
	}
	if base == nil {
		base = []byte(trainer.DefaultConfig().YAML())
	}
	b, err := applySets(base, sets)
	if err != nil {
		return trainer.Config{}, err
	}
	cfg, err := trainer.ParseConfig(b)
	if err == nil {
		return cfg, nil
	}
	if _, baseErr := trainer.ParseConfig(base); baseErr != nil {
		return trainer.Config{}, baseErr
	}
	for _, o := range sets {
		one, aerr := applySets(base, []setOverride{o})
		if aerr != nil {
			continue
		}
		if _, oerr := trainer.ParseConfig(one); oerr != nil {
			return trainer.Config{}, fmt.Errorf("--set %s: %w", o.raw, unknownKeyHint(oerr, o))
		}
	}
	return trainer.Config{}, fmt.Errorf("--set %s: %w", strings.Join(raw, " --set "), err)
}

// unknownKeyHint rewrites yaml.v3's "field x not found in type T" (whose
// line number means nothing for a key that came from the command line)
// into a message naming the whole dotted key.
func unknownKeyHint(err error, o setOverride) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, m := range te.Errors {
			if strings.Contains(m, "not found in type") {
				return fmt.Errorf("unknown config key %s: not a key of the run config (configs/*.yaml)", strings.Join(o.path, "."))
			}
		}
	}
	return err
}

// trainConfigWithSets is `flowsteer train`'s hook: the config file (or
// the defaults without one) with the --set overrides applied. A resumed
// run keeps its stored config, so --set is refused there.
func trainConfigWithSets(path, resume string, sets []string) (trainer.Config, error) {
	if resume != "" {
		return trainer.Config{}, errors.New("--set and --resume exclude each other: a resumed run keeps its own config.yaml")
	}
	var base []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return trainer.Config{}, err
		}
		base = b
	}
	cfg, err := configWithSets(base, sets)
	if err != nil && path != "" {
		return trainer.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, err
}

// printConfigJSON writes cfg as one JSON object with the YAML file's
// keys, for scripts that need a value of the resolved config (the run's
// name, say) without parsing YAML themselves.
func printConfigJSON(w io.Writer, cfg trainer.Config, resume string) error {
	if resume != "" {
		return errors.New("--print-config shows a new run's config: give --config, not --resume (`flowsteer runs show RUN --json` has a run's)")
	}
	var tree map[string]any
	if err := yaml.Unmarshal([]byte(cfg.YAML()), &tree); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(tree)
}
