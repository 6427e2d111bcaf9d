package embedded

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/flowsteer/flowsteer/internal/fsutil"
)

// Checkpoint file, little endian:
//
//	[8]byte  ckptMagic "FSEMBED\x00"
//	uint32   ckptVersion
//	uint32 + bytes   the Config as JSON (for the record; Load keeps the running policy's optimiser settings)
//	uint32   feature layout version, uint32 input size, uint32 hidden,
//	uint32   number of heads, then uint32 size of each head
//	uint32 + bytes   the choice names of every head (headVocabulary)
//	int64    trainer step (what Save was given)
//	int64    Adam's update count
//	uint32 + bytes   the shared sampling stream's state
//	uint32   number of parameters N
//	N float64 parameters, N reference parameters, N Adam first moments, N second moments
//	version 2 on: the critic of value credit (critic.go):
//	uint32   its hidden width H, 0 when the policy has none; when H > 0:
//	int64    its Adam update count, uint32 its parameter count M,
//	M float64 parameters, M Adam first moments, M second moments
//	[32]byte SHA-256 of everything above
//
// The trailing digest catches a damaged file even when the caller has no
// checksum to compare with; the checksum Save returns is the SHA-256 of
// the whole file, digest included.
const (
	ckptMagic   = "FSEMBED\x00"
	ckptVersion = 2
)

// ErrCheckpoint wraps every reason Load refuses a file.
var ErrCheckpoint = errors.New("embedded checkpoint")

type ckptWriter struct{ bytes.Buffer }

func (w *ckptWriter) u32(v uint32) { w.Write(binary.LittleEndian.AppendUint32(nil, v)) }
func (w *ckptWriter) i64(v int64)  { w.Write(binary.LittleEndian.AppendUint64(nil, uint64(v))) }
func (w *ckptWriter) blob(b []byte) {
	w.u32(uint32(len(b)))
	w.Write(b)
}
func (w *ckptWriter) floats(v []float64) {
	b := make([]byte, 8*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(f))
	}
	w.Write(b)
}

// Save writes a checkpoint atomically (a temporary file in the same
// directory, synced, then renamed over path) and returns its hex SHA-256.
// The reference parameters are saved too, so a resumed run keeps the same
// KL anchor.
func (p *Policy) Save(path string, step int64) (string, error) {
	cfg, err := json.Marshal(p.cfg)
	if err != nil {
		return "", err
	}
	p.rngMu.Lock()
	rng, err := p.pcg.MarshalBinary()
	p.rngMu.Unlock()
	if err != nil {
		return "", err
	}
	var w ckptWriter
	w.WriteString(ckptMagic)
	w.u32(ckptVersion)
	w.blob(cfg)
	w.u32(featureLayout)
	w.u32(uint32(p.arch.in))
	w.u32(uint32(p.arch.hidden))
	w.u32(uint32(numHeads))
	for _, n := range headSizes {
		w.u32(uint32(n))
	}
	w.blob([]byte(headVocabulary()))
	w.i64(step)
	p.mu.RLock()
	w.i64(p.adamT)
	w.blob(rng)
	w.u32(uint32(len(p.params)))
	w.floats(p.params)
	w.floats(p.ref)
	w.floats(p.adamM)
	w.floats(p.adamV)
	p.mu.RUnlock()
	// The critic changes only under updateMu, which Save does not take:
	// the trainer saves between steps, never during an Update.
	if c := p.critic; c == nil {
		w.u32(0)
	} else {
		w.u32(uint32(c.hidden))
		w.i64(c.t)
		w.u32(uint32(len(c.params)))
		w.floats(c.params)
		w.floats(c.m)
		w.floats(c.v)
	}
	d := sha256.Sum256(w.Bytes())
	w.Write(d[:])
	data := w.Bytes()

	if err := fsutil.WriteFileAtomic(path, data, 0o600); err != nil {
		return "", fmt.Errorf("save embedded checkpoint: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

type ckptReader struct {
	b   []byte
	err error
}

func (r *ckptReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrCheckpoint)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}
func (r *ckptReader) u32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}
func (r *ckptReader) i64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.LittleEndian.Uint64(b))
	}
	return 0
}
func (r *ckptReader) blob() []byte { return r.take(int(r.u32())) }
func (r *ckptReader) floats(n int) []float64 {
	b := r.take(8 * n)
	if b == nil {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// Load restores a checkpoint written by Save: parameters, reference
// parameters, Adam state and the shared sampling stream. It checks, in
// order, the checksum (when given), the magic and format version, the
// file's own digest and the architecture, and changes nothing unless all
// pass. The running policy keeps its own optimiser settings.
func (p *Policy) Load(path, checksum string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if checksum != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, strings.TrimSpace(checksum)) {
			return 0, fmt.Errorf("%w: %s has checksum %s, expected %s", ErrCheckpoint, path, got, checksum)
		}
	}
	if len(data) < len(ckptMagic)+4+sha256.Size || string(data[:len(ckptMagic)]) != ckptMagic {
		return 0, fmt.Errorf("%w: %s is not an embedded-policy checkpoint (bad magic)", ErrCheckpoint, path)
	}
	version := binary.LittleEndian.Uint32(data[len(ckptMagic):])
	if version < 1 || version > ckptVersion {
		return 0, fmt.Errorf("%w: %s has format version %d, this build reads 1 to %d", ErrCheckpoint, path, version, ckptVersion)
	}
	body, digest := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if d := sha256.Sum256(body); !bytes.Equal(d[:], digest) {
		return 0, fmt.Errorf("%w: %s is corrupted (its content digest does not match)", ErrCheckpoint, path)
	}
	r := &ckptReader{b: body[len(ckptMagic)+4:]}
	r.blob() // config, informational
	layout, in, hidden, nh := r.u32(), int(r.u32()), int(r.u32()), int(r.u32())
	if r.err != nil {
		return 0, r.err
	}
	var diffs []string
	if layout != featureLayout {
		diffs = append(diffs, fmt.Sprintf("feature layout %d in the checkpoint, %d here", layout, featureLayout))
	}
	if in != p.arch.in {
		diffs = append(diffs, fmt.Sprintf("input size %d in the checkpoint, %d here (FeatureSize %d + text_buckets %d)",
			in, p.arch.in, FeatureSize, p.cfg.TextBuckets))
	}
	if hidden != p.arch.hidden {
		diffs = append(diffs, fmt.Sprintf("hidden %d in the checkpoint, %d here", hidden, p.arch.hidden))
	}
	if nh != int(numHeads) {
		diffs = append(diffs, fmt.Sprintf("%d heads in the checkpoint, %d here", nh, numHeads))
	} else {
		for k := range numHeads {
			if n := int(r.u32()); r.err == nil && n != headSizes[k] {
				diffs = append(diffs, fmt.Sprintf("head %s has %d choices in the checkpoint, %d here", k, n, headSizes[k]))
			}
		}
	}
	if v := string(r.blob()); r.err == nil && len(diffs) == 0 && v != headVocabulary() {
		theirs, ours := strings.Split(v, "; "), strings.Split(headVocabulary(), "; ")
		for i := range ours {
			if i >= len(theirs) || theirs[i] != ours[i] {
				t := "nothing"
				if i < len(theirs) {
					t = theirs[i]
				}
				diffs = append(diffs, fmt.Sprintf("head choices %q in the checkpoint, %q here", t, ours[i]))
			}
		}
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(diffs) > 0 {
		return 0, fmt.Errorf("%w: %s was made by a different architecture: %s", ErrCheckpoint, path, strings.Join(diffs, "; "))
	}
	step := r.i64()
	adamT := r.i64()
	rngState := r.blob()
	n := int(r.u32())
	if r.err == nil && n != p.arch.size {
		return 0, fmt.Errorf("%w: %s holds %d parameters, this architecture has %d", ErrCheckpoint, path, n, p.arch.size)
	}
	params, ref, m, v := r.floats(n), r.floats(n), r.floats(n), r.floats(n)
	if r.err != nil {
		return 0, r.err
	}
	var crit *critic // the file's critic, nil when it has none
	if version >= 2 {
		if ch := int(r.u32()); ch > 0 && r.err == nil {
			ct := r.i64()
			cn := int(r.u32())
			if r.err == nil && cn != criticSize(p.arch.in, ch) {
				return 0, fmt.Errorf("%w: %s holds a critic of %d parameters, %d expected for hidden %d", ErrCheckpoint, path, cn, criticSize(p.arch.in, ch), ch)
			}
			crit = &critic{in: p.arch.in, hidden: ch, t: ct}
			crit.params, crit.m, crit.v = r.floats(cn), r.floats(cn), r.floats(cn)
		}
		if r.err != nil {
			return 0, r.err
		}
	}
	// A policy without value credit ignores the file's critic (evaluating a
	// checkpoint needs none); one with it keeps its fresh critic when the
	// file has none, and refuses a critic of another width.
	if crit != nil && p.critic != nil && crit.hidden != p.critic.hidden {
		return 0, fmt.Errorf("%w: %s holds a critic of hidden %d, this policy's has %d (critic_hidden)", ErrCheckpoint, path, crit.hidden, p.critic.hidden)
	}
	if len(r.b) != 0 {
		return 0, fmt.Errorf("%w: %s has %d unexpected trailing bytes", ErrCheckpoint, path, len(r.b))
	}
	pcg := new(rand.PCG)
	if err := pcg.UnmarshalBinary(rngState); err != nil {
		return 0, fmt.Errorf("%w: %s: sampling stream state: %w", ErrCheckpoint, path, err)
	}

	p.updateMu.Lock()
	defer p.updateMu.Unlock()
	p.mu.Lock()
	p.params, p.ref, p.adamM, p.adamV, p.adamT = params, ref, m, v, adamT
	p.version = versionOf(p.params)
	p.mu.Unlock()
	if crit != nil && p.critic != nil {
		p.critic = crit
		p.lastKey, p.lastAdv = 0, nil
	}
	p.rngMu.Lock()
	p.pcg = pcg
	p.rngMu.Unlock()
	return step, nil
}
