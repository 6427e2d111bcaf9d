package task

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Ways FuzzLoad lays its bytes out on disk, so that every path of Load sees
// hostile input: the plain file, the file gzipped (the loader gunzips it),
// the bytes themselves under a .gz name (a corrupt gzip stream) and a
// directory load (dataFiles, fileStem, per-file detection).
const (
	layoutPlain = iota
	layoutGzip
	layoutRawGz
	layoutDir
	layouts
)

// fuzzFormats are the format arguments FuzzLoad picks from: detection and
// every layout by name.
func fuzzFormats() []string { return append([]string{"auto"}, Formats()...) }

// loadSeeds are the real files of every layout, with the format each is.
var loadSeeds = map[string]string{
	"gsm8k.jsonl": FormatGSM8K, "math.jsonl": FormatMATH, "math_dir/algebra/1.json": FormatMATH,
	"math_dir/geometry/1.json": FormatMATH, "mathqa.json": FormatMathQA, "aime2025.jsonl": FormatAIME2025,
	"hotpotqa.json": FormatHotpotQA, "hotpotqa_hf.jsonl": FormatHotpotQA, "squad2.jsonl": FormatSQuAD2,
	"squad2_official.json": FormatSQuAD2, "triviaqa.jsonl": FormatTriviaQA, "triviaqa_official.json": FormatTriviaQA,
	"nq.jsonl": FormatNQ, "mbpp.jsonl": FormatMBPP, "humaneval.jsonl": FormatHumanEval, "apps.jsonl": FormatAPPS,
	"ds1000.jsonl": FormatDS1000, "flowsteer.jsonl": FormatFlowsteer,
}

// Hand-written edge cases next to the real files: containers, nesting,
// wrong types, numbers where strings go, and odd bytes.
var loadEdgeSeeds = []string{
	"", "\n\n", "null", "[]", "{}", "[{}]", "[1, 2]", `"text"`, "[[[[[[[[[[]]]]]]]]]]",
	`{"question": "q", "answer": "x #### 1,234"}`,
	`{"question": "q", "answer": "x #### ,"}`,
	`{"problem": "p", "solution": "\\boxed{\\boxed{}}"}`,
	`{"Problem": "p", "options": "a ) 1 , b ) 2", "correct": "c"}`,
	`{"Problem": "p", "options": ["a ) 1", "b ) 2"], "correct": "B"}`,
	`{"question": "q", "answer": 5}`,
	`{"question": "q", "context": [["t", ["s1", " s2"]]], "answer": "a", "level": "hard"}`,
	`{"question": "q", "context": {"title": ["t"], "sentences": []}, "answer": "a"}`,
	`{"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"id": "1", "question": "q", "answers": [], "is_impossible": true}]}]}]}`,
	`{"Data": [{"Question": "q", "Answer": {"Value": "v", "Aliases": ["v", "w"]}}]}`,
	`{"question": "q", "answer": ["a", 1, "a"]}`,
	`{"text": "t", "code": "def f(x):\n    return x", "test_list": ["assert f(1) == 1"]}`,
	`{"task_id": 1, "prompt": "def f():\n    \"\"\"\n    >>> f(\n    \"\"\"", "test": "def check(c):\n    assert c() == (1,\n", "entry_point": "f"}`,
	`{"question": "q", "input_output": "{\"inputs\": [[1]], \"outputs\": [[1]], \"fn_name\": \"f\"}"}`,
	`{"question": "q", "input_output": {"inputs": ["1\n"], "outputs": [true]}, "solutions": "[\"print(1)\"]"}`,
	`{"prompt": "p", "code_context": "def test_execution(s):\n    pass", "metadata": {"problem_id": 3}}`,
	`{"id": "x", "family": "mc", "question": "q", "choices": ["a", "b"], "answers": ["z"]}`,
	`{"id": "x", "family": "code", "question": "q", "hidden_tests": {"style": "embed", "code": "x"}}`,
	`{"id": "x", "family": "math", "question": "q", "answers": ["1"]}` + "\n" + `{"id": "x", "family": "math", "question": "q", "answers": ["1"]}`,
	"{\"question\": \"\xff\xfe\", \"answer\": [\"\xc3\"]}",
	`{"question": "q", "answer": "a", "context": "c", "supporting_facts": 1e999}`,
}

func FuzzLoad(f *testing.F) {
	formats := fuzzFormats()
	index := func(name string) uint8 {
		for i, n := range formats {
			if n == name {
				return uint8(i)
			}
		}
		f.Fatalf("no format %q", name)
		return 0
	}
	for file, format := range loadSeeds {
		data, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, index("auto"), uint8(layoutPlain))
		f.Add(data, index(format), uint8(layoutPlain))
		f.Add(data, index("auto"), uint8(layoutGzip))
		f.Add(data, index(format), uint8(layoutDir))
	}
	for i, s := range loadEdgeSeeds {
		f.Add([]byte(s), index("auto"), uint8(i%layouts))
		f.Add([]byte(s), uint8(i%len(formats)), uint8(layoutPlain))
	}
	f.Add([]byte("\x1f\x8b\x08\x00garbage"), index("auto"), uint8(layoutRawGz))
	// One scratch dir per fuzzing process, emptied before each input: a
	// t.TempDir per input would slow the fuzzer down several times.
	scratch := filepath.Join(f.TempDir(), "in")
	f.Fuzz(func(t *testing.T, data []byte, formatIdx, layout uint8) {
		format := formats[int(formatIdx)%len(formats)]
		path := writeFuzzInput(t, scratch, data, layout%layouts)
		var tasks []Task
		var err error
		within(t, func() { tasks, err = Load(path, format) }, "Load(%s, %q)", path, format)
		if err != nil {
			checkLoadError(t, err)
			return
		}
		checkLoadedTasks(t, tasks)
		if format != "auto" || layout%layouts == layoutDir || len(tasks) == 0 {
			return
		}
		// Detection agrees with what auto loaded: the detected format,
		// named explicitly, loads the same tasks.
		var detected string
		within(t, func() { detected, err = Detect(path) }, "Detect(%s)", path)
		if err != nil {
			t.Fatalf("Load(auto) read %d tasks but Detect fails: %v", len(tasks), err)
		}
		again, err := Load(path, detected)
		if err != nil {
			t.Fatalf("Load(auto) read %d tasks but Load(%q) fails: %v", len(tasks), detected, err)
		}
		if a, b := jsonl(t, tasks), jsonl(t, again); a != b {
			t.Fatalf("Load(auto) and Load(%q) differ:\n%s\n%s", detected, a, b)
		}
	})
}

// FuzzReadJSONL feeds ReadJSONL, the project's own reader, directly.
func FuzzReadJSONL(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "flowsteer.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	for _, s := range loadEdgeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var tasks []Task
		var err error
		within(t, func() { tasks, err = ReadJSONL(bytes.NewReader(data)) }, "ReadJSONL")
		if err != nil {
			checkLoadError(t, err)
			return
		}
		checkLoadedTasks(t, tasks)
	})
}

// within fails the test when f runs for longer than any loader should on a
// fuzz input (a hang), instead of letting the fuzzer stall.
func within(t *testing.T, f func(), what string, args ...any) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("hang: "+what+" did not return within 20s", args...)
	}
}

func writeFuzzInput(t *testing.T, dir string, data []byte, layout uint8) string {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	switch layout {
	case layoutGzip:
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		if _, err := zw.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return write("tasks.jsonl.gz", b.Bytes())
	case layoutRawGz:
		return write("tasks.json.gz", data)
	case layoutDir:
		// Two files, so ids from both must stay distinct.
		write("set/a/1.json", data)
		write("set/b/1.jsonl", data)
		write("set/.hidden/x.json", []byte("not json"))
		return filepath.Join(dir, "set")
	}
	return write("tasks.jsonl", data)
}

// checkLoadError: a refusal is an error that names the file (a
// *LoadError) or comes from the task package ("task: ...").
func checkLoadError(t *testing.T, err error) {
	t.Helper()
	var le *LoadError
	if errors.As(err, &le) {
		if le.Err == nil || le.File == "" || le.Line < 0 {
			t.Fatalf("malformed LoadError %#v", le)
		}
		return
	}
	var pe *fs.PathError
	if !strings.HasPrefix(err.Error(), "task: ") && !errors.As(err, &pe) {
		t.Fatalf("error %q (%T) is neither a *LoadError nor a task: error", err, err)
	}
}

// checkLoadedTasks holds every loader to the Task contract: each task
// validates (known family, non-blank id and question, the gold data its
// scorer needs), ids are unique, gold answers are not blank, and the tasks
// survive WriteJSONL -> ReadJSONL unchanged.
func checkLoadedTasks(t *testing.T, tasks []Task) {
	t.Helper()
	seen := map[string]bool{}
	for i, tk := range tasks {
		if err := tk.Validate(); err != nil {
			t.Fatalf("task %d does not validate: %v\n%+v", i, err, tk)
		}
		if strings.TrimSpace(tk.Question) == "" || tk.Family == "" {
			t.Fatalf("task %d: empty question or family: %+v", i, tk)
		}
		if seen[tk.ID] {
			t.Fatalf("task %d: duplicate id %q", i, tk.ID)
		}
		seen[tk.ID] = true
		for _, a := range tk.Answers {
			if strings.TrimSpace(a) == "" {
				t.Fatalf("task %d (%s): blank gold answer in %q", i, tk.ID, tk.Answers)
			}
		}
	}
	out := jsonl(t, tasks)
	back, err := ReadJSONL(strings.NewReader(out))
	if err != nil {
		t.Fatalf("WriteJSONL output does not read back: %v\n%s", err, out)
	}
	if again := jsonl(t, back); again != out {
		t.Fatalf("WriteJSONL -> ReadJSONL changed the tasks:\n%s\n%s", out, again)
	}
}

func jsonl(t *testing.T, tasks []Task) string {
	t.Helper()
	var b strings.Builder
	if err := WriteJSONL(&b, tasks); err != nil {
		t.Fatalf("WriteJSONL: %v", err)
	}
	return b.String()
}
