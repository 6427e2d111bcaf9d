package task

import (
	"strings"
)

// appsHeader is the import block APPS's own checker (hendrycks/apps,
// eval/testing_util.py) puts in front of every solution, so solutions that
// use List, Counter, sqrt or heapq without importing them run as they do
// there. numpy is imported only where it is installed: the sandbox's
// Python may not have it, and no APPS reference solution in our samples
// needs it.
const appsHeader = `import sys
import time
import itertools
from itertools import accumulate, product, permutations, combinations
import collections
from collections import Counter, OrderedDict, deque, defaultdict, ChainMap
from functools import lru_cache
import math
from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2
import fractions
from typing import List, Tuple
try:
    import numpy as np
except ImportError:
    pass
import random
import heapq
from heapq import *
`

// Preamble is what the data set's own checker runs before a solution
// (APPS's import block); "" for the others.
func Preamble(t Task) string {
	if t.Source == FormatAPPS {
		return appsHeader
	}
	return ""
}

// Program is the program a solution runs as: the data set's preamble, the
// prompt's missing parts (imports, the signature of a completion) and the
// code. prefix is how many lines were put in front of the code. Scoring,
// Programmer and Test all build programs this way, so code that passes one
// runs the same in the others.
func Program(t Task, code string) (program string, prefix int) {
	program, prefix = completeCode(t, code)
	if pre := Preamble(t); pre != "" && !strings.Contains(program, "from __future__") {
		program = pre + program
		prefix += strings.Count(pre, "\n")
	}
	return program, prefix
}

// SampleRun is one run of a solution on what the problem itself gives to
// try it with: a sample input and, when the data set has one, the sample
// output to compare with.
type SampleRun struct {
	Code    string
	Stdin   string
	Want    string
	HasWant bool
}

// MaxSampleRuns bounds how many sample inputs Programmer tries.
const MaxSampleRuns = 3

// SampleRuns says how Programmer should try code on a code task:
//   - stdin problems (IOStyle public cases, APPS): on each public sample
//     input, compared with its sample output;
//   - snippet completions (DS-1000, EmbedStyle): inside the problem's own
//     context program (exec_context with the snippet at [insert], on the
//     first generated test input), printing the snippet's result; the
//     check that compares with the expected result is not run;
//   - stdin problems without a sample input: the program is compiled,
//     not run (empty stdin would fail correct code);
//   - otherwise: the program alone (it must at least define and import
//     cleanly).
func SampleRuns(t Task, code string) []SampleRun {
	if t.Family != Code {
		return []SampleRun{{Code: code}}
	}
	if t.HiddenTests.Style == EmbedStyle {
		if ctx, ok := ds1000Context(t.HiddenTests.Code); ok {
			return []SampleRun{{Code: strings.ReplaceAll(ctx, SolutionPlaceholder, PythonString(code))}}
		}
	}
	prog, _ := Program(t, code)
	if len(t.PublicTests.Cases) > 0 {
		var runs []SampleRun
		for i, c := range t.PublicTests.Cases {
			if i == MaxSampleRuns {
				break
			}
			runs = append(runs, SampleRun{Code: prog, Stdin: c.Input, Want: c.Output, HasWant: true})
		}
		return runs
	}
	if t.HiddenTests.Style == IOStyle || len(t.HiddenTests.Cases) > 0 {
		// A stdin problem without a sample input: running it on empty
		// stdin would fail correct code at its first input(). Compile it
		// instead, which still catches syntax errors.
		return []SampleRun{{Code: "compile(" + PythonString(prog) + ", \"solution.py\", \"exec\")\n"}}
	}
	return []SampleRun{{Code: prog}}
}

// ds1000Context cuts DS-1000's evaluation program (code_context, then the
// solution and test_execution; see convDS1000) down to a run of the
// solution in its context: the context's definitions, the first generated
// input, exec_context with the solution inserted, and the result printed.
func ds1000Context(hidden string) (string, bool) {
	i := strings.Index(hidden, "\n\ncode = "+SolutionPlaceholder)
	if i < 0 || !strings.Contains(hidden[:i], "exec_context") || !strings.Contains(hidden[:i], "def generate_test_case(") {
		return "", false
	}
	return hidden[:i] + `

_fs_code = exec_context.replace("[insert]", ` + SolutionPlaceholder + `)
_fs_input, _fs_expected = generate_test_case(1)
del _fs_expected  # the check is the hidden test's; this run only executes
_fs_env = {"test_input": _fs_input}
exec(_fs_code, _fs_env)
print(repr(_fs_env.get("result"))[:2000])
`, true
}

// TrimCode trims blank lines around code and trailing spaces, never the
// indentation of its first line: a DS-1000 answer or a function body is
// indented code whose first line must keep its indent.
func TrimCode(code string) string {
	lines := strings.Split(strings.ReplaceAll(code, "\r\n", "\n"), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}
