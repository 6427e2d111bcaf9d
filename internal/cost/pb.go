package cost

import (
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

// UsageToPB converts usage lines.
func UsageToPB(u Usage) []*pb.ModelUsage {
	out := make([]*pb.ModelUsage, 0, len(u))
	for _, l := range u {
		out = append(out, &pb.ModelUsage{
			Backend: l.Backend, Model: l.Model, Calls: int32(l.Calls), CacheHits: int32(l.CacheHits),
			InputTokens: l.InputTokens, CachedInputTokens: l.CachedInputTokens, OutputTokens: l.OutputTokens,
			SavedInputTokens: l.SavedInputTokens, SavedOutputTokens: l.SavedOutputTokens,
			LatencySeconds: l.LatencySeconds, Simulated: l.Simulated,
		})
	}
	return out
}

// UsageFromPB converts usage lines back.
func UsageFromPB(ms []*pb.ModelUsage) Usage {
	var u Usage
	for _, m := range ms {
		u.Add(Line{
			Backend: m.GetBackend(), Model: m.GetModel(), Calls: int(m.GetCalls()), CacheHits: int(m.GetCacheHits()),
			InputTokens: m.GetInputTokens(), CachedInputTokens: m.GetCachedInputTokens(), OutputTokens: m.GetOutputTokens(),
			SavedInputTokens: m.GetSavedInputTokens(), SavedOutputTokens: m.GetSavedOutputTokens(),
			LatencySeconds: m.GetLatencySeconds(), Simulated: m.GetSimulated(),
		})
	}
	return u
}

// TableToPB converts a price table.
func TableToPB(t Table) []*pb.Price {
	out := make([]*pb.Price, 0, len(t))
	for _, p := range t {
		out = append(out, &pb.Price{Backend: p.Backend, Model: p.Model, Input: p.Input, Output: p.Output, CachedInput: p.CachedInput})
	}
	return out
}

// TableFromPB converts a price table back.
func TableFromPB(ps []*pb.Price) Table {
	out := make(Table, 0, len(ps))
	for _, p := range ps {
		out = append(out, Price{Backend: p.GetBackend(), Model: p.GetModel(), Input: p.GetInput(), Output: p.GetOutput(), CachedInput: p.GetCachedInput()})
	}
	return out
}

// SummaryToPB converts a summary.
func SummaryToPB(s Summary) *pb.CostSummary {
	return &pb.CostSummary{
		Episodes: int32(s.Episodes), ExecutorCalls: s.ExecutorCalls, CacheHits: s.CacheHits,
		ExecutorInputTokens: s.ExecutorInputTokens, ExecutorCachedInputTokens: s.ExecutorCachedInputTokens,
		ExecutorOutputTokens: s.ExecutorOutputTokens, ExecutorMoney: s.ExecutorMoney, SavedTokens: s.SavedTokens,
		SavedMoney: s.SavedMoney, PolicyPromptTokens: s.PolicyPromptTokens, PolicyCompletionTokens: s.PolicyCompletionTokens,
		PolicyMoney: s.PolicyMoney, PolicySeconds: s.PolicySeconds, ExecutorSeconds: s.ExecutorSeconds,
		SandboxSeconds: s.SandboxSeconds, WallSeconds: s.WallSeconds, Unpriced: append([]string(nil), s.Unpriced...),
		Simulated: s.Simulated, FinalWorkflowTokens: s.FinalWorkflowTokens, FinalWorkflowMoney: s.FinalWorkflowMoney,
	}
}

// SummaryFromPB converts a summary back; nil is the zero summary.
func SummaryFromPB(c *pb.CostSummary) Summary {
	return Summary{
		Episodes: int(c.GetEpisodes()), ExecutorCalls: c.GetExecutorCalls(), CacheHits: c.GetCacheHits(),
		ExecutorInputTokens: c.GetExecutorInputTokens(), ExecutorCachedInputTokens: c.GetExecutorCachedInputTokens(),
		ExecutorOutputTokens: c.GetExecutorOutputTokens(), ExecutorMoney: c.GetExecutorMoney(), SavedTokens: c.GetSavedTokens(),
		SavedMoney: c.GetSavedMoney(), PolicyPromptTokens: c.GetPolicyPromptTokens(), PolicyCompletionTokens: c.GetPolicyCompletionTokens(),
		PolicyMoney: c.GetPolicyMoney(), PolicySeconds: c.GetPolicySeconds(), ExecutorSeconds: c.GetExecutorSeconds(),
		SandboxSeconds: c.GetSandboxSeconds(), WallSeconds: c.GetWallSeconds(), Unpriced: append([]string(nil), c.GetUnpriced()...),
		Simulated: c.GetSimulated(), FinalWorkflowTokens: c.GetFinalWorkflowTokens(), FinalWorkflowMoney: c.GetFinalWorkflowMoney(),
	}
}
