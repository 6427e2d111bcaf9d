package main

import (
	"context"
	"fmt"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// policyFlags choose a policy: --policy KIND (or KIND:ARG, or a named
// baseline workflow: policy.ParseName) and the kinds' own flags, bound
// from policy.Kinds.
type policyFlags struct {
	policy string
	fs     *pflag.FlagSet
}

func (p *policyFlags) register(fs *pflag.FlagSet, def, use string) {
	p.fs = fs
	fs.StringVar(&p.policy, "policy", def, use+": "+policy.Kinds.Describe()+"; fixed:\"DSL\" (also cot, self-consistency, full) builds that workflow")
	policy.Kinds.BindFlags(fs)
}

// spec is the chosen kind and the options --policy and the flags set.
func (p *policyFlags) spec() (string, map[string]any, error) {
	kind, set := policy.ParseName(p.policy)
	if _, ok := policy.Kinds.Lookup(kind); !ok {
		return "", nil, fmt.Errorf("--policy: %w", policy.Kinds.UnknownKind(kind))
	}
	flags, err := policy.Kinds.FromFlags(p.fs, kind)
	if err != nil {
		return "", nil, err
	}
	if set == nil {
		set = map[string]any{}
	}
	for k, v := range flags {
		if _, dup := set[k]; dup {
			return "", nil, fmt.Errorf("--policy %s already sets %s", p.policy, k)
		}
		set[k] = v
	}
	return kind, set, nil
}

// build decodes and creates the policy; a remote policy's connection is
// closed by the returned func.
func (p *policyFlags) build(ctx context.Context, seed int64, auth *clientAuthFlags) (policy.Policy, func(), error) {
	kind, set, err := p.spec()
	if err != nil {
		return nil, func() {}, err
	}
	c, err := policy.Kinds.Decode(kind, set)
	if err != nil {
		return nil, func() {}, policy.Kinds.FlagError(kind, err)
	}
	var conns []*grpc.ClientConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	deps := policy.Deps{Seed: seed, Connect: func(_ context.Context, addrs []string) (pb.PolicyServiceClient, error) {
		creds, err := auth.dialOptions()
		if err != nil {
			return nil, err
		}
		conn, err := grpc.NewClient(addrs[0], append([]grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler())}, creds...)...)
		if err != nil {
			return nil, err
		}
		conns = append(conns, conn)
		return pb.NewPolicyServiceClient(conn), nil
	}}
	pol, err := policy.Kinds.Create(ctx, kind, c, deps)
	if err != nil {
		closeAll()
		return nil, func() {}, err
	}
	return pol, closeAll, nil
}
