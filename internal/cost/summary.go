package cost

import (
	"fmt"
	"sort"
)

// Summary is the cost of a set of episodes. It mirrors the proto
// CostSummary; Add and Merge make the roll-ups (episode -> group -> step
// -> run), so every level is the sum of the one below.
type Summary struct {
	Episodes                  int
	ExecutorCalls             int64
	CacheHits                 int64
	ExecutorInputTokens       int64
	ExecutorCachedInputTokens int64
	ExecutorOutputTokens      int64
	ExecutorMoney             float64
	SavedTokens               int64
	SavedMoney                float64
	PolicyPromptTokens        int64
	PolicyCompletionTokens    int64
	PolicyMoney               float64
	PolicySeconds             float64
	ExecutorSeconds           float64
	SandboxSeconds            float64
	WallSeconds               float64
	Unpriced                  []string
	Simulated                 bool
	FinalWorkflowTokens       int64
	FinalWorkflowMoney        float64
}

// ExecutorTokens are the billed executor tokens (what a token budget
// counts).
func (s Summary) ExecutorTokens() int64 { return s.ExecutorInputTokens + s.ExecutorOutputTokens }

// Money is everything paid: executor and policy.
func (s Summary) Money() float64 { return s.ExecutorMoney + s.PolicyMoney }

// AddExecutor prices executor usage with t and adds it.
func (s *Summary) AddExecutor(t Table, u Usage) {
	for _, l := range u {
		s.ExecutorCalls += int64(l.Calls)
		s.CacheHits += int64(l.CacheHits)
		s.ExecutorInputTokens += l.InputTokens
		s.ExecutorCachedInputTokens += l.CachedInputTokens
		s.ExecutorOutputTokens += l.OutputTokens
		s.SavedTokens += l.SavedInputTokens + l.SavedOutputTokens
		s.ExecutorSeconds += l.LatencySeconds
		s.Simulated = s.Simulated || l.Simulated
		m, saved, ok := t.Money(l)
		s.ExecutorMoney += m
		s.SavedMoney += saved
		if !ok && l.Calls > 0 {
			s.flag(l.Label())
		}
	}
}

// AddPolicy prices the policy's own generation (backend "policy").
func (s *Summary) AddPolicy(t Table, model string, prompt, completion int64) {
	s.PolicyPromptTokens += prompt
	s.PolicyCompletionTokens += completion
	if prompt+completion == 0 {
		return
	}
	m, _, ok := t.Money(Line{Backend: "policy", Model: model, InputTokens: prompt, OutputTokens: completion})
	s.PolicyMoney += m
	if !ok {
		s.flag(Line{Backend: "policy", Model: model}.Label())
	}
}

// AddFinalWorkflow adds one run of an episode's final workflow.
func (s *Summary) AddFinalWorkflow(t Table, u Usage) {
	for _, l := range u {
		s.FinalWorkflowTokens += l.Tokens()
	}
	m, _ := t.Workflow(u)
	s.FinalWorkflowMoney += m
}

func (s *Summary) flag(label string) {
	i := sort.SearchStrings(s.Unpriced, label)
	if i < len(s.Unpriced) && s.Unpriced[i] == label {
		return
	}
	s.Unpriced = append(s.Unpriced, "")
	copy(s.Unpriced[i+1:], s.Unpriced[i:])
	s.Unpriced[i] = label
}

// Merge adds o to s.
func (s *Summary) Merge(o Summary) {
	s.Episodes += o.Episodes
	s.ExecutorCalls += o.ExecutorCalls
	s.CacheHits += o.CacheHits
	s.ExecutorInputTokens += o.ExecutorInputTokens
	s.ExecutorCachedInputTokens += o.ExecutorCachedInputTokens
	s.ExecutorOutputTokens += o.ExecutorOutputTokens
	s.ExecutorMoney += o.ExecutorMoney
	s.SavedTokens += o.SavedTokens
	s.SavedMoney += o.SavedMoney
	s.PolicyPromptTokens += o.PolicyPromptTokens
	s.PolicyCompletionTokens += o.PolicyCompletionTokens
	s.PolicyMoney += o.PolicyMoney
	s.PolicySeconds += o.PolicySeconds
	s.ExecutorSeconds += o.ExecutorSeconds
	s.SandboxSeconds += o.SandboxSeconds
	s.WallSeconds += o.WallSeconds
	s.Simulated = s.Simulated || o.Simulated
	s.FinalWorkflowTokens += o.FinalWorkflowTokens
	s.FinalWorkflowMoney += o.FinalWorkflowMoney
	for _, u := range o.Unpriced {
		s.flag(u)
	}
}

// String is a one-line account for terminals and logs.
func (s Summary) String() string {
	out := fmt.Sprintf("executor %d calls, %d tokens (%d in, %d out), money %.4f; cache %d hits saved %d tokens = %.4f; policy %d tokens = %.4f",
		s.ExecutorCalls, s.ExecutorTokens(), s.ExecutorInputTokens, s.ExecutorOutputTokens, s.ExecutorMoney,
		s.CacheHits, s.SavedTokens, s.SavedMoney, s.PolicyPromptTokens+s.PolicyCompletionTokens, s.PolicyMoney)
	if s.Simulated {
		out += " [executor tokens SIMULATED]"
	}
	if len(s.Unpriced) > 0 {
		out += fmt.Sprintf(" [unpriced: %v]", s.Unpriced)
	}
	return out
}
