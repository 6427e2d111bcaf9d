package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/cwrpo"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// twoDecisionBatch plays a bandit of two decisions per episode: the first,
// on an empty math workflow, decides the reward (+1 for add_parallel, -1
// otherwise); the second, on the workflow the first built, changes
// nothing. All episodes are one group, advantages as the trainer computes
// them.
func twoDecisionBatch(t *testing.T, p *Policy, step, n int) (*pb.UpdateRequest, []float64) {
	t.Helper()
	req := &pb.UpdateRequest{Step: int64(step)}
	rewards := make([]float64, n)
	for i := range rewards {
		id := fmt.Sprintf("s%d-e%d", step, i)
		o := obsOf(testTask(famMath, false))
		d0 := act(t, p, o, policy.Sampling{Seed: seed(int64(step*1000 + 2*i))})
		next := obsOf(testTask(famMath, false), opStage(1, "Programmer"))
		rewards[i] = -1
		if d0.TokenIds[0] == KindAddParallel {
			rewards[i] = 1
			next = obsOf(testTask(famMath, false), parStage(1, "Programmer", "Custom"))
		}
		d1 := act(t, p, next, policy.Sampling{Seed: seed(int64(step*1000 + 2*i + 1))})
		req.Episodes = append(req.Episodes, &pb.EpisodeSamples{EpisodeId: id, GroupId: "g", Reward: rewards[i], Decisions: []*pb.Decision{d0, d1}})
	}
	adv, _ := cwrpo.Advantages(rewards)
	for i, e := range req.Episodes {
		e.Advantage = adv[i]
	}
	return req, rewards
}

// trainBandit updates p on steps bandit batches of n episodes each.
func trainBandit(t *testing.T, p *Policy, steps, n int) {
	t.Helper()
	for step := range steps {
		req, _ := twoDecisionBatch(t, p, step, n)
		update(t, p, req)
	}
}

// batchAdvantages is what Update would credit each decision with now.
func batchAdvantages(t *testing.T, p *Policy, req *pb.UpdateRequest) [][]float64 {
	t.Helper()
	eps, err := p.prepare(req)
	if err != nil {
		t.Fatal(err)
	}
	p.decisionAdvantages(req, eps)
	out := make([][]float64, len(eps))
	for i := range eps {
		out[i] = eps[i].decAdv
	}
	return out
}

func TestValueCreditWithLambdaOneKeepsTheGroupAdvantageOnTheOpeningDecision(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 2, Credit: CreditValue})
	req, _ := twoDecisionBatch(t, p, 0, 12)
	// The untrained critic predicts the same for every state, so every
	// decision gets exactly the episode's group-relative advantage.
	for i, a := range batchAdvantages(t, p, req) {
		want := req.Episodes[i].GetAdvantage()
		if len(a) != 2 || a[0] != want || math.Abs(a[1]-want) > 1e-12 {
			t.Fatalf("episode %d: decision advantages %v, want both %v", i, a, want)
		}
	}
	trainBandit(t, p, 20, 12)
	// Trained, the critic moves the later decision's credit, never the
	// opening one's (lambda 1). The batch comes from an untrained policy
	// of the same shape, so that its rewards still differ.
	req, _ = twoDecisionBatch(t, newTestPolicy(t, Config{Seed: 2}), 99, 12)
	moved := false
	for i, a := range batchAdvantages(t, p, req) {
		if want := req.Episodes[i].GetAdvantage(); math.Abs(a[0]-want) > 1e-9 {
			t.Fatalf("episode %d: opening decision credited %v, its group advantage is %v", i, a[0], want)
		}
		moved = moved || math.Abs(a[1]-a[0]) > 0.1
	}
	if !moved {
		t.Fatal("the trained critic changed no later decision's credit")
	}
}

func TestValueCreditTakesTheCreditAwayFromADecisionThatChangedNothing(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 4, Credit: CreditValue})
	// The critic learns from an exploring policy's batches (the policy
	// itself would soon stop visiting the losing states).
	explorer := newTestPolicy(t, Config{Seed: 4})
	for step := range 60 {
		req, _ := twoDecisionBatch(t, explorer, step, 16)
		eps, err := p.prepare(req)
		if err != nil {
			t.Fatal(err)
		}
		p.fitCritic(req, eps)
	}
	req, rewards := twoDecisionBatch(t, explorer, 100, 16)
	if _, _, zero := cwrpo.GroupStats(rewards); zero {
		t.Fatal("the check batch has no spread; pick another seed")
	}
	var first, second float64
	for _, a := range batchAdvantages(t, p, req) {
		first += math.Abs(a[0])
		second += math.Abs(a[1])
	}
	first, second = first/16, second/16
	t.Logf("mean |advantage|: deciding decision %.3f, idle decision %.3f", first, second)
	// The second state shows what the first decision built, so a critic
	// that has learned it leaves the second decision little to be credited for.
	if !(second < 0.25*first) {
		t.Fatalf("the idle decision keeps %.3f of credit against %.3f for the deciding one", second, first)
	}
}

func TestValueCreditReusesABatchsAdvantagesAcrossUpdatePasses(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 5, Credit: CreditValue})
	trainBandit(t, p, 5, 8)
	req, _ := twoDecisionBatch(t, p, 5, 8)
	update(t, p, req)
	first := append([][]float64(nil), p.lastAdv...)
	fresh := batchAdvantages(t, p, req) // the critic has since stepped on this batch
	update(t, p, req)                   // a second pass over the same batch
	differs := false
	for i := range first {
		if !equalFloats(first[i], p.lastAdv[i]) {
			t.Fatalf("episode %d: the second pass credited %v, the first %v", i, p.lastAdv[i], first[i])
		}
		differs = differs || !equalFloats(first[i], fresh[i])
	}
	if !differs {
		t.Fatal("the critic's steps changed no advantage, so the reuse is not tested")
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestValueCreditLearnsTheBanditAtLeastAsWellAsEpisodeCredit(t *testing.T) {
	for _, credit := range []string{CreditEpisode, CreditValue} {
		t.Run(credit, func(t *testing.T) {
			p := newTestPolicy(t, Config{Seed: 1, Credit: credit})
			obs := obsOf(testTask(famMath, false))
			before := kindProb(p, obs, KindAddParallel)
			trainBandit(t, p, 30, 16)
			after := kindProb(p, obs, KindAddParallel)
			t.Logf("P(add_parallel) %.3f -> %.3f", before, after)
			if after < 0.6 {
				t.Fatalf("P(add_parallel) %.3f -> %.3f, want above 0.6", before, after)
			}
		})
	}
}

func TestCheckpointCarriesTheCritic(t *testing.T) {
	p := newTestPolicy(t, Config{Seed: 6, Credit: CreditValue})
	trainBandit(t, p, 4, 8)
	dir := t.TempDir()
	path := filepath.Join(dir, "value.ckpt")
	if _, err := p.Save(path, 4); err != nil {
		t.Fatal(err)
	}
	q := newTestPolicy(t, Config{Seed: 60, Credit: CreditValue})
	if _, err := q.Load(path, ""); err != nil {
		t.Fatal(err)
	}
	if !equalFloats(p.critic.params, q.critic.params) || !equalFloats(p.critic.v, q.critic.v) || p.critic.t != q.critic.t {
		t.Fatal("the critic did not come back")
	}
	req, _ := twoDecisionBatch(t, p, 4, 8)
	if sp, sq := update(t, p, req), update(t, q, req); !proto.Equal(sp, sq) || p.Info().Version != q.Info().Version {
		t.Fatalf("next update differs after load:\n%v\n%v", sp, sq)
	}

	// An episode-credit policy evaluates the checkpoint without its critic.
	e := newTestPolicy(t, Config{Seed: 61})
	if _, err := e.Load(path, ""); err != nil || e.critic != nil {
		t.Fatalf("episode-credit load: %v (critic %v)", err, e.critic != nil)
	}
	// A critic of another width is refused, and changes nothing.
	w := newTestPolicy(t, Config{Seed: 62, Credit: CreditValue, CriticHidden: 8})
	v := w.Info().Version
	if _, err := w.Load(path, ""); err == nil || !strings.Contains(err.Error(), "critic of hidden 32") || w.Info().Version != v {
		t.Fatalf("a critic of another width: %v", err)
	}
	// A value-credit policy keeps its fresh critic when the file has none.
	plain := filepath.Join(dir, "plain.ckpt")
	if _, err := e.Save(plain, 1); err != nil {
		t.Fatal(err)
	}
	c0 := append([]float64(nil), w.critic.params...)
	if _, err := w.Load(plain, ""); err != nil || !equalFloats(c0, w.critic.params) {
		t.Fatalf("load of a critic-less checkpoint: %v", err)
	}
}

// TestVersionOneCheckpointsStillLoad rewrites a critic-less checkpoint as
// format 1 (no critic section), as builds before value credit wrote them.
func TestVersionOneCheckpointsStillLoad(t *testing.T) {
	p, _ := trained(t, Config{Seed: 3})
	path := filepath.Join(t.TempDir(), "v2.ckpt")
	if _, err := p.Save(path, 9); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	body := append([]byte(nil), b[:len(b)-sha256.Size-4]...) // drop the critic's width (0) and the digest
	if !bytes.Equal(b[len(b)-sha256.Size-4:len(b)-sha256.Size], []byte{0, 0, 0, 0}) {
		t.Fatal("a critic-less checkpoint does not end with a zero critic width")
	}
	binary.LittleEndian.PutUint32(body[len(ckptMagic):], 1)
	d := sha256.Sum256(body)
	v1 := filepath.Join(t.TempDir(), "v1.ckpt")
	if err := os.WriteFile(v1, append(body, d[:]...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, credit := range []string{CreditEpisode, CreditValue} {
		q := newTestPolicy(t, Config{Seed: 8, Credit: credit})
		if step, err := q.Load(v1, ""); err != nil || step != 9 || q.Info().Version != p.Info().Version {
			t.Fatalf("%s: format 1 load: step %d, %v", credit, step, err)
		}
	}
}
