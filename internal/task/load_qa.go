package task

import (
	"encoding/json"
	"strings"
)

// HotpotQA: {"_id", "question", "answer", "context": [[title, [sentences]],
// ...], "supporting_facts", "type", "level"} as released; the Hugging Face
// export's {"context": {"title": [...], "sentences": [[...]]}} is read too.
// The level (easy/medium/hard) becomes a difficulty of 0.3/0.6/0.9.
func convHotpotQA(r rec) (Task, error) {
	q, err := r.nonEmpty("question")
	if err != nil {
		return Task{}, err
	}
	a, err := r.nonEmpty("answer")
	if err != nil {
		return Task{}, err
	}
	ctx, err := hotpotContext(r)
	if err != nil {
		return Task{}, err
	}
	diff := 0.0
	if r.has("level") {
		lv, err := r.str("level")
		if err != nil {
			return Task{}, err
		}
		diff = levelDifficulty(lv)
	}
	id, err := r.id(FormatHotpotQA, "_id", "id")
	if err != nil {
		return Task{}, err
	}
	return Task{ID: id, Family: QA, Source: FormatHotpotQA, Question: q, Context: ctx, Answers: []string{strings.TrimSpace(a)}, Difficulty: diff}, nil
}

func hotpotContext(r rec) (string, error) {
	if !r.has("context") {
		return "", r.missing("context")
	}
	raw := r.f["context"]
	type para struct {
		title string
		sents []string
	}
	var paras []para
	switch jsonKind(raw) {
	case "array":
		var items [][]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return "", r.wrongType("context", "an array of [title, [sentences]] pairs")
		}
		for i, it := range items {
			var p para
			if len(it) != 2 || json.Unmarshal(it[0], &p.title) != nil || json.Unmarshal(it[1], &p.sents) != nil {
				return "", r.bad("context", "item %d is not a [title, [sentences]] pair", i)
			}
			paras = append(paras, p)
		}
	case "object":
		var o struct {
			Title     []string   `json:"title"`
			Sentences [][]string `json:"sentences"`
		}
		if err := json.Unmarshal(raw, &o); err != nil || len(o.Title) != len(o.Sentences) {
			return "", r.bad("context", `is not {"title": [...], "sentences": [[...]]} with one sentence list per title`)
		}
		for i := range o.Title {
			paras = append(paras, para{o.Title[i], o.Sentences[i]})
		}
	case "string":
		return rawString(raw), nil
	default:
		return "", r.wrongType("context", "an array of [title, [sentences]] pairs")
	}
	blocks := make([]string, len(paras))
	for i, p := range paras {
		blocks[i] = p.title + ": " + joinSentences(p.sents)
	}
	return strings.Join(blocks, "\n\n"), nil
}

// joinSentences rejoins HotpotQA's sentence split, which keeps the leading
// space of every sentence but the first one of a paragraph.
func joinSentences(sents []string) string {
	var b strings.Builder
	for i, s := range sents {
		if i > 0 && !strings.HasPrefix(s, " ") && !strings.HasSuffix(sents[i-1], " ") {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return strings.TrimSpace(b.String())
}

func levelDifficulty(level string) float64 {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "easy", "introductory":
		return 0.3
	case "medium", "interview":
		return 0.6
	case "hard", "competition":
		return 0.9
	}
	return 0
}

// SQuAD v2 (flattened export): {"id", "title", "context", "question",
// "answers": {"text": [...], "answer_start": [...]}}; empty text list means
// unanswerable. Records cut from the official nested file arrive with the
// official fields ("answers": [{"text", "answer_start"}], "is_impossible").
func convSQuAD(r rec) (Task, error) {
	q, err := r.nonEmpty("question")
	if err != nil {
		return Task{}, err
	}
	ctx, err := r.nonEmpty("context")
	if err != nil {
		return Task{}, err
	}
	if !r.has("answers") {
		return Task{}, r.missing("answers")
	}
	var golds []string
	switch raw := r.f["answers"]; jsonKind(raw) {
	case "object":
		a, err := r.object("answers")
		if err != nil {
			return Task{}, err
		}
		if !a.has("text") {
			return Task{}, r.bad("answers", `has no "text" list`)
		}
		if golds, err = a.strList("text"); err != nil {
			return Task{}, err
		}
	case "array":
		var items []struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(raw, &items); err != nil {
			return Task{}, r.wrongType("answers", `an array of {"text", "answer_start"}`)
		}
		for i, it := range items {
			if it.Text == nil {
				return Task{}, r.bad("answers", `item %d has no "text"`, i)
			}
			golds = append(golds, *it.Text)
		}
	default:
		return Task{}, r.wrongType("answers", `{"text": [...], "answer_start": [...]}`)
	}
	golds = dedupe(golds)
	impossible := false
	if r.has("is_impossible") {
		if err := json.Unmarshal(r.f["is_impossible"], &impossible); err != nil {
			return Task{}, r.wrongType("is_impossible", "a bool")
		}
	}
	if impossible {
		golds = nil // v2 keeps "plausible_answers" apart; any stray answers are not gold
	}
	id, err := r.id(FormatSQuAD2, "id")
	if err != nil {
		return Task{}, err
	}
	return Task{ID: id, Family: QA, Source: FormatSQuAD2, Question: q, Context: ctx, Answers: golds, Unanswerable: len(golds) == 0}, nil
}

// TriviaQA: {"question", "question_id", "answer": {"value", "aliases",
// "normalized_aliases", ...}} (Hugging Face), or the official Data[] items
// {"Question", "QuestionId", "Answer": {"Value", "Aliases", ...}}. The
// evidence documents are not loaded: they are long web and Wikipedia pages
// and TriviaQA is used here in its open (no-context) form.
func convTriviaQA(r rec) (Task, error) {
	q, err := r.nonEmpty("question", "Question")
	if err != nil {
		return Task{}, err
	}
	an := r.first("answer", "Answer")
	if an == "" {
		return Task{}, r.missing("answer")
	}
	var golds []string
	if jsonKind(r.f[an]) == "string" {
		golds = []string{rawString(r.f[an])}
	} else {
		a, err := r.object(an)
		if err != nil {
			return Task{}, err
		}
		if v, err := a.optStr("value", "Value"); err != nil {
			return Task{}, err
		} else if v != "" {
			golds = append(golds, v)
		}
		aliases := a.first("aliases", "Aliases")
		if aliases == "" {
			aliases = a.first("normalized_aliases", "NormalizedAliases")
		}
		if aliases != "" {
			list, err := a.strList(aliases)
			if err != nil {
				return Task{}, err
			}
			golds = append(golds, list...)
		}
	}
	golds = dedupe(golds)
	if len(golds) == 0 {
		return Task{}, r.bad(an, "has no value or aliases")
	}
	id, err := r.id(FormatTriviaQA, "question_id", "QuestionId")
	if err != nil {
		return Task{}, err
	}
	return Task{ID: id, Family: QA, Source: FormatTriviaQA, Question: q, Answers: golds}, nil
}

// NaturalQuestions, open form (nq_open): {"question", "answer": [...]}.
func convNQ(r rec) (Task, error) {
	q, err := r.nonEmpty("question")
	if err != nil {
		return Task{}, err
	}
	name := r.first("answer", "answers")
	if name == "" {
		return Task{}, r.missing("answer")
	}
	golds, err := r.strList(name)
	if err != nil {
		return Task{}, err
	}
	golds = dedupe(golds)
	if len(golds) == 0 {
		return Task{}, r.bad(name, "is empty")
	}
	id, err := r.id(FormatNQ, "id", "example_id")
	if err != nil {
		return Task{}, err
	}
	return Task{ID: id, Family: QA, Source: FormatNQ, Question: q, Answers: golds}, nil
}
