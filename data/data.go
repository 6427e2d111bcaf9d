// Package data ships the default offline task suite inside the binary, so
// `make run` and the tests work with nothing downloaded. The files are
// `flowsteer tasks generate --out data/suite --n 240 --eval-n 90 --seed 1`;
// a test checks they still match the generator.
package data

import _ "embed"

// Train is the training split of the offline suite (JSONL).
//
//go:embed suite/train.jsonl
var Train []byte

// Eval is the held-out split (JSONL).
//
//go:embed suite/eval.jsonl
var Eval []byte
