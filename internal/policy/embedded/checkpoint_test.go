package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/policy"
)

// trained returns a policy after a few updates, so parameters, reference
// and Adam state all differ from a fresh one.
func trained(t *testing.T, cfg Config) (*Policy, *pb.UpdateRequest) {
	p := newTestPolicy(t, cfg)
	var req *pb.UpdateRequest
	for step := range 3 {
		req = &pb.UpdateRequest{Step: int64(step)}
		for i, o := range observations() {
			d := act(t, p, o, policy.Sampling{Seed: seed(int64(10*step + i))})
			req.Episodes = append(req.Episodes, &pb.EpisodeSamples{Advantage: float64(i%3 - 1), Decisions: []*pb.Decision{d}})
		}
		update(t, p, req)
	}
	return p, req
}

func TestSaveLoadRoundTripReproducesDecisions(t *testing.T) {
	p, req := trained(t, Config{Seed: 3})
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.ckpt")
	sum, err := p.Save(path, 42)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
		t.Fatal("Save's checksum is not the file's SHA-256")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("Save left %d files behind", len(ents))
	}

	q := newTestPolicy(t, Config{Seed: 99}) // different initial weights, same architecture
	step, err := q.Load(path, strings.ToUpper(sum))
	if err != nil {
		t.Fatal(err)
	}
	if step != 42 || q.Info().Version != p.Info().Version {
		t.Fatalf("loaded step %d version %s, saved 42 %s", step, q.Info().Version, p.Info().Version)
	}
	for i, o := range observations() {
		s := policy.Sampling{Seed: seed(int64(i))}
		if a, b := act(t, p, o, s), act(t, q, o, s); !proto.Equal(a, b) {
			t.Fatalf("seeded decision %d differs after load", i)
		}
		// The shared sampling stream travels with the checkpoint too.
		if a, b := act(t, p, o, policy.Sampling{}), act(t, q, o, policy.Sampling{}); !proto.Equal(a, b) {
			t.Fatalf("unseeded decision %d differs after load", i)
		}
		if a, b := act(t, p, o, policy.Sampling{Greedy: true}), act(t, q, o, policy.Sampling{Greedy: true}); !proto.Equal(a, b) {
			t.Fatalf("greedy decision %d differs after load", i)
		}
	}
	// The reference and Adam's moments came back too: the next update is identical.
	sp, sq := update(t, p, req), update(t, q, req)
	if !proto.Equal(sp, sq) || p.Info().Version != q.Info().Version {
		t.Fatalf("next update differs after load:\n%v\n%v", sp, sq)
	}
}

func TestLoadRefusesBadCheckpoints(t *testing.T) {
	p, _ := trained(t, Config{Seed: 3})
	dir := t.TempDir()
	path := filepath.Join(dir, "good.ckpt")
	sum, err := p.Save(path, 7)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	write := func(name string, data []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)/2] ^= 0x40
	badMagic := append([]byte("NOTACKPT"), good[8:]...)
	newer := append([]byte(nil), good...)
	newer[8] = 9
	// reseal recomputes the trailing digest, as a writer with another
	// architecture would have.
	reseal := func(b []byte) []byte {
		d := sha256.Sum256(b[:len(b)-sha256.Size])
		copy(b[len(b)-sha256.Size:], d[:])
		return b
	}
	reordered := reseal(bytes.Replace(append([]byte(nil), good...), []byte("Plan,Decompose"), []byte("Decompose,Plan"), 1))
	relayout := append([]byte(nil), good...)
	cfgLen := int(binary.LittleEndian.Uint32(relayout[12:]))
	binary.LittleEndian.PutUint32(relayout[16+cfgLen:], featureLayout+1)
	relayout = reseal(relayout)

	small := newTestPolicy(t, Config{Hidden: 32})
	smallPath := filepath.Join(dir, "small.ckpt")
	if _, err := small.Save(smallPath, 1); err != nil {
		t.Fatal(err)
	}
	wide := newTestPolicy(t, Config{TextBuckets: 16})
	widePath := filepath.Join(dir, "wide.ckpt")
	if _, err := wide.Save(widePath, 1); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		path     string
		checksum string
		want     string
	}{
		{"corrupted byte", write("corrupt.ckpt", corrupt), "", "corrupted"},
		{"corrupted byte with its checksum", write("corrupt2.ckpt", corrupt), sum, "checksum"},
		{"wrong checksum", path, strings.Repeat("0", 64), "checksum"},
		{"bad magic", write("magic.ckpt", badMagic), "", "bad magic"},
		{"newer format", write("newer.ckpt", newer), "", "format version 9"},
		{"truncated", write("short.ckpt", good[:100]), "", "corrupted"},
		{"empty file", write("empty.ckpt", nil), "", "bad magic"},
		{"missing file", filepath.Join(dir, "nope.ckpt"), "", "no such file"},
		{"different hidden size", smallPath, "", "hidden 32 in the checkpoint, 64 here"},
		{"different text buckets", widePath, "", fmt.Sprintf("input size %d in the checkpoint, %d here", FeatureSize+16, FeatureSize+32)},
		{"different choice order", write("order.ckpt", reordered), "", "head choices"},
		{"different feature layout", write("layout.ckpt", relayout), "", fmt.Sprintf("feature layout %d in the checkpoint, %d here", featureLayout+1, featureLayout)},
	}
	q := newTestPolicy(t, Config{Seed: 5})
	v := q.Info().Version
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := q.Load(tt.path, tt.checksum)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("error %v, want an ErrCheckpoint mentioning %q", err, tt.want)
			}
			t.Log(err)
			if q.Info().Version != v {
				t.Fatal("a refused checkpoint changed the policy")
			}
		})
	}
}

func TestSaveOverwritesAtomically(t *testing.T) {
	p := newTestPolicy(t, Config{})
	path := filepath.Join(t.TempDir(), "p.ckpt")
	if _, err := p.Save(path, 1); err != nil {
		t.Fatal(err)
	}
	p2, _ := trained(t, Config{})
	sum, err := p2.Save(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	q := newTestPolicy(t, Config{})
	if step, err := q.Load(path, sum); err != nil || step != 2 || q.Info().Version != p2.Info().Version {
		t.Fatalf("step %d err %v after overwrite", step, err)
	}
	if _, err := p.Save(filepath.Join(t.TempDir(), "missing-dir", "p.ckpt"), 1); err == nil {
		t.Fatal("Save into a missing directory succeeded")
	}
}
