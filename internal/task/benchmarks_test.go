package task

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Tests on the shipped samples of the official files (testdata/benchmarks,
// SOURCES.md there names where each comes from).

func benchmarkPath(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "testdata", "benchmarks"}, parts...)...)
}

func TestVetPublicTestsDropsHumanEvalExamplesTheCanonicalSolutionFails(t *testing.T) {
	py := needPython(t)
	ts, err := Load(benchmarkPath("humaneval", "HumanEval.jsonl.gz"), "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := VetPublicTests(context.Background(), ts, py, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	total := 0
	for _, x := range ts {
		if len(x.DroppedTests) > 0 {
			got = append(got, x.ID)
			total += len(x.DroppedTests)
		}
		// What is left must pass with the reference: Test then never
		// reports the canonical solution as failing.
		if !x.PublicTests.Empty() {
			prog, _ := Program(x, x.Reference)
			if _, exit, _, err := py.RunPython(context.Background(), prog+"\n\n"+x.PublicTests.Code, "", DefaultProgramTimeout); err != nil || exit != 0 {
				t.Errorf("%s: kept public tests fail with the reference (exit %d, %v)", x.ID, exit, err)
			}
		}
	}
	sort.Strings(got)
	want := []string{"HumanEval/130", "HumanEval/148", "HumanEval/47", "HumanEval/80"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("tasks with dropped examples = %v, want %v", got, want)
	}
	if n != total {
		t.Fatalf("VetPublicTests reported %d drops, tasks record %d", n, total)
	}
}

func TestMathQAOneLineArrayGetsOneIDPerRecord(t *testing.T) {
	ts, err := Load(benchmarkPath("mathqa", "train.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	want(t, len(ts), 2)
	want(t, ts[0].ID, "mathqa-train-1")
	want(t, ts[1].ID, "mathqa-train-2")
	want(t, ts[0].Answers, []string{"c"})
	want(t, ts[0].Choices, []string{"24", "120", "625", "720", "1024"})
}

func TestAPPSDirectoryLayoutLoads(t *testing.T) {
	ts, err := Load(benchmarkPath("apps", "test"), "")
	if err != nil {
		t.Fatal(err)
	}
	want(t, len(ts), 2)
	call, stdin := ts[0], ts[1]
	want(t, call.ID, "apps-0000")
	want(t, call.EntryPoint, "numIdenticalPairs")
	want(t, call.Difficulty, 0.3)
	want(t, strings.Contains(call.Prompt, "class Solution"), true)
	// Public tests: the two examples of the question, not hidden cases.
	want(t, strings.Count(call.PublicTests.Code, "assert"), 2)
	want(t, strings.Count(call.HiddenTests.Code, "assert _fs_same"), 3)
	want(t, stdin.PublicTests.Cases, []IOCase{{Input: "3\n1 5 2\n", Output: "8\n5\n"}})
	want(t, len(stdin.HiddenTests.Cases), 3)

	// A single problem directory loads too.
	one, err := Load(benchmarkPath("apps", "test", "0001"), "apps")
	if err != nil {
		t.Fatal(err)
	}
	want(t, one[0].ID, "apps-0001")
}

func TestAPPSCallBasedReferenceRunsWithTheCheckersImports(t *testing.T) {
	py := needPython(t)
	ts, err := Load(benchmarkPath("apps", "test"), "")
	if err != nil {
		t.Fatal(err)
	}
	// The reference uses List and Counter without importing them, as APPS
	// solutions do: APPS's checker supplies them.
	r := Score(context.Background(), ts[0], ts[0].Reference, py)
	if !r.Correct {
		t.Fatalf("reference failed: %s", r.Explanation)
	}
	n, err := VetPublicTests(context.Background(), ts, py, 1)
	if err != nil || n != 0 {
		t.Fatalf("VetPublicTests dropped %d (%v): %+v", n, err, ts[0].DroppedTests)
	}
}

func TestSampleRunsUseSampleInputsAndTheDS1000Context(t *testing.T) {
	py := needPython(t)
	ctx := context.Background()
	apps, err := Load(benchmarkPath("apps", "test"), "")
	if err != nil {
		t.Fatal(err)
	}
	runs := SampleRuns(apps[1], apps[1].Reference)
	want(t, len(runs), 1)
	out, exit, _, err := py.RunPython(ctx, runs[0].Code, runs[0].Stdin, DefaultCaseTimeout)
	if err != nil || exit != 0 || out != runs[0].Want {
		t.Fatalf("stdin sample run: exit %d, %v, out %q want %q", exit, err, out, runs[0].Want)
	}
	ds, err := Load(benchmarkPath("ds1000", "ds1000.jsonl"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ds {
		runs := SampleRuns(x, x.Reference)
		want(t, len(runs), 1)
		out, exit, _, err := py.RunPython(ctx, runs[0].Code, "", DefaultProgramTimeout)
		if err != nil || exit != 0 || !strings.Contains(out, "[") {
			t.Fatalf("%s: context run: exit %d, %v, out %q", x.ID, exit, err, out)
		}
		// Alone, the snippet fails: it needs the context's variables.
		if _, exit, _, _ := py.RunPython(ctx, x.Reference, "", DefaultProgramTimeout); exit == 0 {
			t.Fatalf("%s: the bare snippet ran; the test proves nothing", x.ID)
		}
	}
}

func TestTrimCodeKeepsTheFirstLinesIndent(t *testing.T) {
	want(t, TrimCode("\n\n    result = sorted(a)\n    return result\n\n"), "    result = sorted(a)\n    return result")
}

func TestSampleRunsCompileStdinProblemsWithoutSamples(t *testing.T) {
	py := needPython(t)
	ctx := context.Background()
	x := Task{ID: "io", Family: Code, Source: FormatAPPS, Question: "Read n and print n+1.",
		HiddenTests: Tests{Style: IOStyle, Cases: []IOCase{{Input: "1\n", Output: "2\n"}}}}
	ok := SampleRuns(x, "n = int(input())\nprint(n + 1)\n")
	if _, exit, _, err := py.RunPython(ctx, ok[0].Code, ok[0].Stdin, DefaultProgramTimeout); err != nil || exit != 0 {
		t.Fatalf("correct stdin code failed its sample run: exit %d, %v", exit, err)
	}
	bad := SampleRuns(x, "n = int(input()\nprint(n + 1)\n")
	if _, exit, _, _ := py.RunPython(ctx, bad[0].Code, bad[0].Stdin, DefaultProgramTimeout); exit == 0 {
		t.Fatal("a syntax error passed the sample run")
	}
}
