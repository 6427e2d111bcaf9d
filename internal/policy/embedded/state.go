package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Decision state: everything Update needs to recompute a decision's
// log-probs and entropies under new parameters, without the observation.
// Versioned little-endian binary, compact enough to ride along every
// Decision (about 4 bytes per feature):
//
//	byte    stateMagic ('E')
//	byte    stateVersion (2; 1 is read as temperature 1)
//	float32 the sampling temperature (version 2 only)
//	uvarint n, the input size
//	n x float32 features
//	byte    number of choices
//	per choice: byte head, uint16 legal mask, byte chosen index
//
// Features are stored as float32 and Act itself computes from the rounded
// values, so the recomputed log-prob of an unchanged policy is bit-identical
// to the recorded one and the first CWRPO ratio is exactly 1. The
// temperature the choices were drawn at is kept so that Update recomputes
// them under the same tempered distribution (see Act).
const (
	stateMagic   = 'E'
	stateVersion = 2
	maxChoices   = 8 // kind + width + 3 branches is the longest sequence
)

// choice is one categorical choice of a decision.
type choice struct {
	head   Head
	legal  mask
	chosen int
}

// decoded is a decision's state.
type decoded struct {
	temp    float64 // sampling temperature, > 0
	x       []float64
	nz      []int // nonzero(x)
	choices []choice
}

func encodeState(temp float64, x []float64, cs []choice) []byte {
	b := make([]byte, 0, 6+binary.MaxVarintLen32+4*len(x)+1+4*len(cs))
	b = append(b, stateMagic, stateVersion)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(temp)))
	b = binary.AppendUvarint(b, uint64(len(x)))
	for _, v := range x {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
	}
	b = append(b, byte(len(cs)))
	for _, c := range cs {
		b = append(b, byte(c.head))
		b = binary.LittleEndian.AppendUint16(b, uint16(c.legal))
		b = append(b, byte(c.chosen))
	}
	return b
}

var errState = errors.New("embedded: bad decision state")

// decodeState checks everything it reads, since a state can come from
// another process (a remote trainer) or an older version of this package.
func decodeState(b []byte, inputSize int) (decoded, error) {
	var d decoded
	if len(b) < 2 || b[0] != stateMagic {
		return d, fmt.Errorf("%w: not an embedded-policy state", errState)
	}
	switch b[1] {
	case 1: // before temperatures were recorded: sampled at 1
		d.temp, b = 1, b[2:]
	case stateVersion:
		if len(b) < 6 {
			return d, fmt.Errorf("%w: truncated temperature", errState)
		}
		d.temp = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[2:])))
		if !(d.temp >= minTemperature && d.temp <= maxTemperature) {
			return d, fmt.Errorf("%w: sampling temperature %v outside [%v, %v]", errState, d.temp, minTemperature, maxTemperature)
		}
		b = b[6:]
	default:
		return d, fmt.Errorf("%w: state version %d, this policy reads 1 and %d", errState, b[1], stateVersion)
	}
	n, k := binary.Uvarint(b)
	if k <= 0 {
		return d, fmt.Errorf("%w: truncated input size", errState)
	}
	if n != uint64(inputSize) {
		return d, fmt.Errorf("%w: %d features, this policy has %d (was it made by another architecture?)", errState, n, inputSize)
	}
	b = b[k:]
	if len(b) < 4*inputSize+1 {
		return d, fmt.Errorf("%w: truncated features", errState)
	}
	d.x = make([]float64, inputSize)
	for i := range d.x {
		d.x[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	d.nz = nonzero(d.x)
	b = b[4*inputSize:]
	nc := int(b[0])
	b = b[1:]
	if nc > maxChoices || len(b) != 4*nc {
		return d, fmt.Errorf("%w: %d choices in %d bytes", errState, nc, len(b))
	}
	d.choices = make([]choice, nc)
	for i := range d.choices {
		c := choice{head: Head(b[0]), legal: mask(binary.LittleEndian.Uint16(b[1:])), chosen: int(b[3])}
		b = b[4:]
		if c.head >= numHeads {
			return d, fmt.Errorf("%w: choice %d has unknown head %d", errState, i, c.head)
		}
		size := headSizes[c.head]
		if c.legal&^allOf(size) != 0 || c.chosen >= size || !c.legal.has(c.chosen) {
			return d, fmt.Errorf("%w: choice %d (%s) picks %d outside its legal set %b", errState, i, c.head, c.chosen, c.legal)
		}
		d.choices[i] = c
	}
	return d, nil
}
