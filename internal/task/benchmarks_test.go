package task

import (
	"context"
	"fmt"
	"os"
	"os/exec"
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
	accordion, anton := ts[0], ts[1]
	want(t, accordion.ID, "apps-0000")
	want(t, accordion.EntryPoint, "")
	want(t, accordion.Difficulty, 0.6) // "interview"
	want(t, strings.HasPrefix(accordion.Question, "An accordion is a string"), true)
	// Public tests: the examples of the question, not the hidden cases.
	want(t, accordion.PublicTests.Cases, []IOCase{{Input: "|[a:b:|]\n", Output: "4\n"}, {Input: "|]:[|:]\n", Output: "-1\n"}})
	want(t, len(accordion.HiddenTests.Cases), 30)
	want(t, accordion.HiddenTests.Cases[0], IOCase{Input: "|[a:b:|]\n", Output: "4\n"})
	want(t, anton.ID, "apps-0001")
	want(t, len(anton.PublicTests.Cases), 3)
	want(t, anton.PublicTests.Cases[2], IOCase{Input: "521\n", Output: "499\n"})
	want(t, len(anton.HiddenTests.Cases), 30)

	// A single problem directory loads too.
	one, err := Load(benchmarkPath("apps", "test", "0001"), "apps")
	if err != nil {
		t.Fatal(err)
	}
	want(t, one[0].ID, "apps-0001")
}

func TestAPPSRealSolutionsPassEveryShippedCase(t *testing.T) {
	py := needPython(t)
	ts, err := Load(benchmarkPath("apps", "test"), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ts {
		if r := Score(context.Background(), x, x.Reference, py); !r.Correct {
			t.Errorf("%s: reference failed: %s", x.ID, r.Explanation)
		}
		// A solution of the other problem fails this one's cases.
		other := ts[0].Reference
		if x.ID == ts[0].ID {
			other = ts[1].Reference
		}
		if r := Score(context.Background(), x, other, py); r.Correct {
			t.Errorf("%s: the other problem's solution passed", x.ID)
		}
	}
	n, err := VetPublicTests(context.Background(), ts, py, 1)
	if err != nil || n != 0 {
		t.Fatalf("VetPublicTests dropped %d (%v)", n, err)
	}
}

// flowsteer-written fixtures (internal/task/testdata/flowsteer_written):
// the loader paths the real samples do not exercise, a call-based APPS
// problem and a DS-1000 function-body completion.
func writtenPath(parts ...string) string {
	return filepath.Join(append([]string{"testdata", "flowsteer_written"}, parts...)...)
}

func TestAPPSCallBasedLayoutLoads(t *testing.T) {
	ts, err := Load(writtenPath("apps", "test"), "")
	if err != nil {
		t.Fatal(err)
	}
	want(t, len(ts), 1)
	call := ts[0]
	want(t, call.ID, "apps-0000")
	want(t, call.EntryPoint, "numIdenticalPairs")
	want(t, call.Difficulty, 0.3)
	want(t, strings.Contains(call.Prompt, "class Solution"), true)
	// Public tests: the two examples of the question, not hidden cases.
	want(t, strings.Count(call.PublicTests.Code, "assert"), 2)
	want(t, strings.Count(call.HiddenTests.Code, "assert _fs_same"), 3)
}

func TestAPPSCallBasedReferenceRunsWithTheCheckersImports(t *testing.T) {
	py := needPython(t)
	ts, err := Load(writtenPath("apps", "test"), "")
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

// requirePandasEnv makes the tests on DS-1000's real records fail instead of
// skip when python3 cannot import pandas and numpy (make sysdeps installs
// Debian's python3-pandas; the Makefile sets it where that worked).
const requirePandasEnv = "FLOWSTEER_REQUIRE_PANDAS"

// needPandas returns py with its installed packages on the path, as the
// sandbox runs it; it skips (or, with FLOWSTEER_REQUIRE_PANDAS=1, fails) the
// test when that python3 cannot import pandas and numpy, which DS-1000's
// Pandas problems import.
func needPandas(t *testing.T, py pythonRunner) pythonRunner {
	t.Helper()
	py.site = true
	out, err := exec.Command(py.exe, "-I", "-c", "import numpy, pandas").CombinedOutput()
	if err == nil {
		return py
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	msg := fmt.Sprintf("%s cannot import pandas and numpy, which DS-1000's records need (make sysdeps installs python3-pandas): %s",
		py.exe, lines[len(lines)-1])
	if os.Getenv(requirePandasEnv) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg + "; set " + requirePandasEnv + "=1 to fail instead")
	return py
}

func TestDS1000RealRecordsLoadAndTheirReferencesPass(t *testing.T) {
	ts, err := Load(benchmarkPath("ds1000", "ds1000.jsonl"), "")
	if err != nil {
		t.Fatal(err)
	}
	want(t, len(ts), 3)
	for i, x := range ts {
		want(t, x.ID, fmt.Sprintf("ds1000-%d", i))
		want(t, x.Source, FormatDS1000)
		want(t, strings.HasPrefix(x.Prompt, "Problem:\n"), true)
		want(t, strings.Contains(x.HiddenTests.Code, "def test_execution(solution: str):"), true)
	}
	py := needPandas(t, needPython(t))
	for i, x := range ts {
		if r := Score(context.Background(), x, x.Reference, py); !r.Correct {
			t.Errorf("%s: reference failed: %s", x.ID, r.Explanation)
		}
		// The next problem's reference answers a different question.
		other := ts[(i+1)%len(ts)].Reference
		if r := Score(context.Background(), x, other, py); r.Correct {
			t.Errorf("%s: another problem's reference passed", x.ID)
		}
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
	want(t, len(runs), 3)
	for _, run := range runs {
		out, exit, _, err := py.RunPython(ctx, run.Code, run.Stdin, DefaultCaseTimeout)
		if err != nil || exit != 0 || out != run.Want {
			t.Fatalf("stdin sample run: exit %d, %v, out %q want %q", exit, err, out, run.Want)
		}
	}
	// The written fixtures need no pandas; the real records do.
	written, err := Load(writtenPath("ds1000.jsonl"), "")
	if err != nil {
		t.Fatal(err)
	}
	checkDS1000ContextRuns(t, py, written)
	real, err := Load(benchmarkPath("ds1000", "ds1000.jsonl"), "")
	if err != nil {
		t.Fatal(err)
	}
	checkDS1000ContextRuns(t, needPandas(t, py), real)
}

func checkDS1000ContextRuns(t *testing.T, py pythonRunner, ds []Task) {
	t.Helper()
	ctx := context.Background()
	for _, x := range ds {
		runs := SampleRuns(x, x.Reference)
		want(t, len(runs), 1)
		out, exit, _, err := py.RunPython(ctx, runs[0].Code, "", DefaultProgramTimeout)
		if err != nil || exit != 0 || strings.TrimSpace(out) == "" || strings.TrimSpace(out) == "None" {
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
