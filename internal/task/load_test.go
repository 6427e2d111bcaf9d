package task

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDetectRecognisesEveryLayout(t *testing.T) {
	cases := map[string]string{
		"gsm8k.jsonl":             FormatGSM8K,
		"math.jsonl":              FormatMATH,
		"math_dir/algebra/1.json": FormatMATH,
		"mathqa.json":             FormatMathQA,
		"aime2025.jsonl":          FormatAIME2025,
		"hotpotqa.json":           FormatHotpotQA,
		"hotpotqa_hf.jsonl":       FormatHotpotQA,
		"squad2.jsonl":            FormatSQuAD2,
		"squad2_official.json":    FormatSQuAD2,
		"triviaqa.jsonl":          FormatTriviaQA,
		"triviaqa_official.json":  FormatTriviaQA,
		"nq.jsonl":                FormatNQ,
		"mbpp.jsonl":              FormatMBPP,
		"humaneval.jsonl":         FormatHumanEval,
		"apps.jsonl":              FormatAPPS,
		"ds1000.jsonl":            FormatDS1000,
		"flowsteer.jsonl":         FormatFlowsteer,
	}
	for file, want := range cases {
		t.Run(file, func(t *testing.T) {
			got, err := Detect(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("Detect = %q, want %q", got, want)
			}
		})
	}
}

func TestDetectRefusesUnknownFieldsAndNamesThem(t *testing.T) {
	p := writeFile(t, "odd.jsonl", `{"prompt_text": "x", "label": 1}`+"\n")
	_, err := Detect(p)
	if err == nil || !strings.Contains(err.Error(), "odd.jsonl:1: cannot detect the layout from fields [label, prompt_text]") {
		t.Fatalf("err = %v", err)
	}
	p = writeFile(t, "nq_full.jsonl", `{"question_text": "q", "document_text": "d", "annotations": []}`+"\n")
	if _, err := Detect(p); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("full NQ layout: err = %v", err)
	}
}

func TestLoadReadsEachLayoutWithItsOwnFieldNames(t *testing.T) {
	tests := []struct {
		file  string
		check func(t *testing.T, ts []Task)
	}{
		{"gsm8k.jsonl", func(t *testing.T, ts []Task) {
			want(t, len(ts), 2)
			want(t, ts[0], Task{ID: "gsm8k-1", Family: Math, Source: "gsm8k", Question: ts[0].Question, Answers: []string{"72"}})
			want(t, ts[1].Answers, []string{"2468"}) // "#### 2,468"
			want(t, ts[1].ID, "gsm8k-2")
		}},
		{"math.jsonl", func(t *testing.T, ts []Task) {
			want(t, len(ts), 3)
			want(t, ts[0].Answers, []string{`\frac{3}{4}`})
			want(t, ts[0].Difficulty, 0.4)
			want(t, ts[1].Answers, []string{`2\sqrt{2}`})
			want(t, ts[1].Difficulty, 0.0) // "Level ?"
			want(t, ts[2].Answers, []string{"1024"})
			want(t, ts[2].ID, "test/algebra/7.json")
			want(t, ts[2].Difficulty, 0.2)
		}},
		{"math_dir", func(t *testing.T, ts []Task) {
			want(t, len(ts), 2)
			want(t, ts[0].ID, "math-algebra/1-1")
			want(t, ts[1].ID, "math-geometry/1-1")
			want(t, ts[1].Answers, []string{"9"})
			want(t, ts[1].Difficulty, 1.0)
		}},
		{"mathqa.json", func(t *testing.T, ts []Task) {
			want(t, len(ts), 2)
			want(t, ts[0].Family, MultipleChoice)
			want(t, ts[0].Choices, []string{"rs . 400", "rs . 300", "rs . 500", "rs . 350", "none of these"})
			want(t, ts[0].Answers, []string{"a"})
			want(t, ts[1].Choices, []string{"18", "19", "20", "21", "22"})
			want(t, ts[1].Answers, []string{"c"})
		}},
		{"aime2025.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[0].ID, "aime2025-0")
			want(t, ts[0].Answers, []string{"70"})
			want(t, ts[1].Answers, []string{"117"}) // a JSON number
			want(t, ts[1].ID, "aime2025-2")
		}},
		{"hotpotqa.json", func(t *testing.T, ts []Task) {
			want(t, len(ts), 2)
			want(t, ts[0].ID, "5a8b57f25542995d1e6f1371")
			want(t, ts[0].Answers, []string{"yes"})
			want(t, ts[0].Difficulty, 0.9)
			if !strings.Contains(ts[0].Context, "Scott Derrickson: Scott Derrickson (born July 16, 1966) is an American director, screenwriter and producer. He lives in") {
				t.Errorf("context = %q", ts[0].Context)
			}
		}},
		{"hotpotqa_hf.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[0].ID, "5a7a06935542990198eaf050")
			if !strings.Contains(ts[0].Context, "First for Women: First for Women is a woman's magazine published by Bauer Media Group in the USA. The magazine") {
				t.Errorf("context = %q", ts[0].Context)
			}
		}},
		{"squad2.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[0].Answers, []string{"France"}) // three identical golds deduplicated
			want(t, ts[0].Unanswerable, false)
			want(t, ts[1].Answers, []string(nil))
			want(t, ts[1].Unanswerable, true)
		}},
		{"squad2_official.json", func(t *testing.T, ts []Task) {
			want(t, len(ts), 2)
			want(t, ts[0].Answers, []string{"10th and 11th centuries", "in the 10th and 11th centuries"})
			want(t, ts[1].Unanswerable, true) // plausible_answers are not gold
			want(t, ts[1].Answers, []string(nil))
		}},
		{"triviaqa.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[0].ID, "tc_33")
			want(t, ts[0].Answers, []string{"Sunset Boulevard", "Sunset Blvd", "West Sunset Boulevard"})
		}},
		{"triviaqa_official.json", func(t *testing.T, ts []Task) {
			want(t, ts[0].ID, "tc_33")
			want(t, ts[0].Answers, []string{"Sunset Boulevard", "Sunset Blvd"})
		}},
		{"nq.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[1], Task{ID: "nq-2", Family: QA, Source: "nq", Question: "who sang waiting for a girl like you", Answers: []string{"Foreigner"}})
		}},
		{"mbpp.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[0].ID, "mbpp-11")
			want(t, ts[0].EntryPoint, "remove_Occ")
			want(t, ts[0].PublicTests.Code, "assert remove_Occ(\"hello\",\"l\") == \"heo\"\n")
			want(t, strings.Count(ts[0].HiddenTests.Code, "assert"), 5) // test_list + challenge tests
			want(t, strings.Contains(ts[0].Reference, "\r"), false)
			want(t, ts[1].EntryPoint, "similar_elements") // not the builtin set()
			want(t, strings.HasPrefix(ts[1].HiddenTests.Code, "import math\n"), true)
		}},
		{"humaneval.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[0].ID, "HumanEval/0")
			want(t, ts[0].PublicTests.Code, "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False\nassert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True\n")
			want(t, strings.HasSuffix(ts[0].HiddenTests.Code, "\n\ncheck(has_close_elements)\n"), true)
			want(t, ts[1].PublicTests.Code, "assert abs(truncate_number(3.5) - (0.5)) < 1e-6\n")
			want(t, ts[2].PublicTests.Code, "assert any_int(5, 2, 7) == True\nassert any_int(3, 2, 2) == False\nassert any_int(3.6, -2.2, 2) == False\n")
			// No docstring examples: no public tests (check()'s asserts are hidden).
			want(t, ts[3].PublicTests.Empty(), true)
			want(t, ts[4].PublicTests.Empty(), true)
		}},
		{"apps.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[0].ID, "apps-4000")
			want(t, ts[0].Difficulty, 0.3)
			// The question shows no example: no public tests (never a hidden case).
			want(t, ts[0].PublicTests.Empty(), true)
			want(t, len(ts[0].HiddenTests.Cases), 3)
			want(t, ts[1].Difficulty, 0.6)
			want(t, ts[1].EntryPoint, "addMul")
			want(t, ts[1].HiddenTests.Style, AssertStyle)
			want(t, ts[2].Difficulty, 0.9)
			want(t, ts[2].HiddenTests.Cases[0], IOCase{"hello", "2"})
		}},
		{"ds1000.jsonl", func(t *testing.T, ts []Task) {
			want(t, ts[0].ID, "ds1000-0")
			want(t, ts[0].HiddenTests.Style, EmbedStyle)
			want(t, strings.Contains(ts[0].HiddenTests.Code, "test_string(code)"), true)
			want(t, ts[0].PublicTests.Empty(), true)
		}},
		{"flowsteer.jsonl", func(t *testing.T, ts []Task) {
			want(t, len(ts), 3)
			want(t, ts[1].Choices, []string{"3", "4", "5"})
			want(t, ts[2].HiddenTests.Code, "assert inc(1) == 2\nassert inc(-1) == 0\n")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ts, err := Load(filepath.Join("testdata", tc.file), "auto")
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range ts {
				if err := x.Validate(); err != nil {
					t.Errorf("loaded task does not validate: %v", err)
				}
			}
			tc.check(t, ts)
		})
	}
}

func want[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
}

func TestLoadByNameMatchesDetection(t *testing.T) {
	for file, format := range map[string]string{"gsm8k.jsonl": "gsm8k", "squad2_official.json": "squad2", "humaneval.jsonl": "HumanEval"} {
		auto, err := Load(filepath.Join("testdata", file), "")
		if err != nil {
			t.Fatal(err)
		}
		named, err := Load(filepath.Join("testdata", file), format)
		if err != nil {
			t.Fatal(err)
		}
		want(t, named, auto)
	}
}

func TestLoadReadsGzip(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "nq.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(raw)
	zw.Close()
	p := writeFile(t, "nq.jsonl.gz", b.String())
	ts, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	want(t, ts[0].Answers, []string{"Antarctica"})
	want(t, ts[0].ID, "nq-1")
}

func TestLoadErrorsNameFileLineAndField(t *testing.T) {
	gsm := `{"question": "q1", "answer": "#### 1"}` + "\n"
	tests := []struct {
		name, file, content, format string
		want                        string
	}{
		{"missing field", "tasks.jsonl", gsm + "\n" + `{"question": "q2", "answer": "#### 2"}` + "\n" + `{"answer": "#### 3"}` + "\n", "gsm8k",
			`tasks.jsonl:4: gsm8k record has no "question" field`},
		{"detected layout, missing field on line 3", "tasks.jsonl", gsm + gsm[:0] + `{"question": "q2", "answer": "#### 2"}` + "\n" + `{"question": "q3"}` + "\n", "",
			`tasks.jsonl:3: gsm8k record has no "answer" field`},
		{"no final answer line", "g.jsonl", `{"question": "q", "answer": "it is 4"}` + "\n", "gsm8k",
			`g.jsonl:1: gsm8k record field "answer" has no "#### <number>" final line`},
		{"wrong type", "m.jsonl", `{"problem": "p", "solution": 5}` + "\n", "math",
			`m.jsonl:1: math record field "solution" is a JSON number, want a string`},
		{"no boxed answer", "m.jsonl", `{"problem": "p", "solution": "so 5"}` + "\n", "math",
			`m.jsonl:1: math record field "solution" has no \boxed{...} answer`},
		{"bad json", "b.jsonl", gsm + `{"question": "q", "answer": }` + "\n", "",
			`b.jsonl:2: invalid JSON`},
		{"not an object", "n.jsonl", gsm + "[1, 2]\n", "gsm8k",
			`n.jsonl:2: record is a JSON array, not an object`},
		{"array element line", "arr.json", "[\n" + `{"Problem": "p", "options": "a ) 1 , b ) 2", "correct": "a"},` + "\n" + `{"Problem": "p", "options": "a ) 1 , b ) 2", "correct": "z"}` + "\n]\n", "",
			`arr.json:3: [1]: mathqa record field "correct" is "z", want a letter a-b`},
		{"nested squad", "s.json", `{"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [{"id": "x", "answers": []}]}]}]}`, "",
			`s.json: data[0].paragraphs[0].qas[0]: squad2 record has no "question" field`},
		{"humaneval without entry point", "h.jsonl", `{"task_id": "H/1", "prompt": "def f():\n", "test": "def check(c):\n    pass\n", "canonical_solution": "x", "entry_point": ""}` + "\n", "",
			`h.jsonl:1: humaneval record field "entry_point" is empty`},
		{"apps without tests", "a.jsonl", `{"problem_id": 1, "question": "q", "input_output": "", "solutions": ""}` + "\n", "apps",
			`a.jsonl:1: apps record field "input_output" is empty: the problem has no tests`},
		{"duplicate ids", "d.jsonl", `{"id": "a", "family": "math", "question": "q", "answers": ["1"]}` + "\n" + `{"id": "a", "family": "math", "question": "q", "answers": ["1"]}` + "\n", "",
			`d.jsonl:2: duplicate id "a" (first at `},
		{"invalid own record", "f.jsonl", `{"id": "a", "family": "poetry", "question": "q"}` + "\n", "flowsteer",
			`f.jsonl:1: task a: family "poetry" is not one of math, qa, code, mc`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.file, tc.content)
			_, err := Load(p, tc.format)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			var le *LoadError
			if !errors.As(err, &le) {
				t.Errorf("error is %T, want *LoadError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadRefusesUnknownFormatName(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "nq.jsonl"), "squad")
	if err == nil || !strings.Contains(err.Error(), `unknown format "squad"`) || !strings.Contains(err.Error(), "squad2") {
		t.Fatalf("err = %v", err)
	}
}

func TestWriteJSONLThenReadJSONLRoundTrips(t *testing.T) {
	ts := Generate(12, 7)
	var b bytes.Buffer
	if err := WriteJSONL(&b, ts); err != nil {
		t.Fatal(err)
	}
	if strings.Count(b.String(), "\n") != len(ts) {
		t.Errorf("want one line per task")
	}
	back, err := ReadJSONL(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want(t, back, ts)
	p := writeFile(t, "suite.jsonl", b.String())
	loaded, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	want(t, loaded, ts)
}

// The loaders' test programs must accept each data set's own reference
// solution: that checks the conversion of HumanEval's check(), MBPP's
// setup, APPS' call-based and stdin cases and DS-1000's embedding end to
// end through the scorer.
func TestLoadedReferenceSolutionsPassTheirTests(t *testing.T) {
	run := needPython(t)
	for _, file := range []string{"mbpp.jsonl", "humaneval.jsonl", "apps.jsonl", "ds1000.jsonl", "flowsteer.jsonl"} {
		ts, err := Load(filepath.Join("testdata", file), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ts {
			if x.Family != Code {
				continue
			}
			t.Run(x.ID, func(t *testing.T) {
				t.Parallel()
				ref := x.Reference
				if x.Source == FormatHumanEval {
					ref = strings.TrimPrefix(ref, x.Prompt) // as a completion, the way HumanEval answers come
				}
				res := Score(context.Background(), x, "```python\n"+ref+"\n```", run)
				if !res.Correct {
					t.Errorf("reference fails hidden tests: %s", res.Explanation)
				}
				if !x.PublicTests.Empty() {
					pub := x
					pub.HiddenTests = x.PublicTests
					if res := Score(context.Background(), pub, x.Reference, run); !res.Correct {
						t.Errorf("reference fails public tests: %s", res.Explanation)
					}
				}
			})
		}
	}
}
