package embedded

import (
	"math"
	"slices"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
)

func featuresOf(obs *pb.Observation, buckets int) []float64 {
	x := make([]float64, FeatureSize+buckets)
	features(obs, buckets, x)
	return x
}

func TestFeatureLayout(t *testing.T) {
	if FeatureSize != offFinishOK+1 {
		t.Fatalf("FeatureSize %d does not end the layout (%d)", FeatureSize, offFinishOK+1)
	}
	o := obsOf(testTask(famCode, true),
		opStage(1, "Programmer"),
		parStage(2, "Programmer", "Custom", "Programmer"),
		condStage(3, "Test", "Programmer"),
		&pb.Stage{Id: "node_4", Kind: pb.StageKind_STAGE_KIND_LOOP, Count: 2,
			Body: []*pb.WorkflowNode{{Id: "node_4_l0", Operator: "Review"}, {Id: "node_4_l1", Operator: "Revise"}}},
	)
	o.Turn, o.MaxRounds, o.RoundsLeft = 5, 20, 15
	o.Valid, o.Feedback = false, "Cannot add: unknown operator Foo."
	x := featuresOf(o, 8)
	want := map[int]float64{
		offFamily + 2:                       1, // code
		offPublicTests:                      1,
		offTotal:                            0.8,      // 1 + 3 + 2 + 2
		offUnique:                           5.0 / 12, // Programmer Custom Test Review Revise
		offStages:                           0.4,      // 4 stages
		offOpCounts + opIndex["Programmer"]: 1,        // 5 occurrences, capped
		offOpCounts + opIndex["Custom"]:     1.0 / 3,
		offOpCounts + opIndex["Test"]:       1.0 / 3,
		offOpCounts + opIndex["Review"]:     1.0 / 3,
		offOpCounts + opIndex["Revise"]:     1.0 / 3,
		offStructures:                       1, offStructures + 1: 1, offStructures + 2: 1,
		offHasChecker:                     1,
		offHasSolver:                      1,
		offFbInvalid:                      1,
		offTurn:                           0.25,
		offRoundsLeft:                     0.75,
		offLastOp + 1 + opIndex["Revise"]: 1, // a loop feeds on its last body operator
		offLastKind + 3:                   1,
		offFinishOK:                       1, // 8 operators, structure, solver, checker, Test and Programmer, concise answer
	}
	for i := range FeatureSize {
		if !near(x[i], want[i], 1e-6) { // float32 rounding happens later, in Act
			t.Errorf("feature %d = %v, want %v", i, x[i], want[i])
		}
	}
	var ss float64
	for _, v := range x[FeatureSize:] {
		ss += v * v
	}
	if !near(ss, 1, 1e-12) {
		t.Errorf("text buckets have squared norm %v, want 1", ss)
	}
}

func TestFeedbackKinds(t *testing.T) {
	tests := []struct {
		name     string
		turn     int32
		valid    bool
		feedback string
		last     pb.ActionKind
		want     int // -1: none
		validBit float64
	}{
		{"first turn has no feedback", 0, true, "New episode: the workflow is empty.", 0, -1, 0},
		{"applied action", 3, true, "Added Programmer as node_3.", pb.ActionKind_ACTION_KIND_ADD, offFbOK, 1},
		{"refused finish", 3, false, "Finish refused: add a checker.", pb.ActionKind_ACTION_KIND_FINISH, offFbRefused, 0},
		{"invalid action", 3, false, "Invalid action: unknown action \"x\".", 0, offFbInvalid, 0},
		{"cannot delete", 3, false, "Cannot delete: node_9 does not exist.", pb.ActionKind_ACTION_KIND_DELETE, offFbInvalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obsOf(testTask(famMath, false))
			o.Turn, o.Valid, o.Feedback, o.LastActionKind = tt.turn, tt.valid, tt.feedback, tt.last
			x := featuresOf(o, 4)
			for _, i := range []int{offFbRefused, offFbInvalid, offFbOK} {
				if want := float64(boolInt(i == tt.want)); x[i] != want {
					t.Errorf("feature %d = %v, want %v", i, x[i], want)
				}
			}
			if x[offLastValid] != tt.validBit {
				t.Errorf("last-valid bit %v", x[offLastValid])
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestFeaturesIgnoreTheRenderedPromptAndFollowTheQuestion(t *testing.T) {
	o := obsOf(testTask(famQA, false), opStage(1, "Custom"))
	a := featuresOf(o, 32)
	o.Prompt = &pb.RenderedPrompt{System: "something else entirely", User: "a different question"}
	o.History = []*pb.HistoryEntry{{Turn: 1, Action: "add Custom", Valid: true}}
	if b := featuresOf(o, 32); !slices.Equal(a, b) {
		t.Fatal("features changed with the rendered prompt")
	}
	o.Task.Question = "What is the capital of the country in the passage?"
	if b := featuresOf(o, 32); slices.Equal(a[FeatureSize:], b[FeatureSize:]) {
		t.Fatal("text features did not change with the question")
	}
	// Case does not matter; punctuation separates words.
	u, l := obsOf(&pb.Task{Question: "HELLO, World"}), obsOf(&pb.Task{Question: "hello world"})
	if !slices.Equal(featuresOf(u, 16), featuresOf(l, 16)) {
		t.Fatal("hashing is case- or punctuation-sensitive")
	}
	if x := featuresOf(obsOf(&pb.Task{}), 16); slices.ContainsFunc(x, math.IsNaN) {
		t.Fatal("an empty question gave NaN features")
	}
}

func TestFinishRulesFeatureFollowsTheCanvasRules(t *testing.T) {
	full := []*pb.Stage{opStage(1, "Programmer"), parStage(2, "Programmer", "Custom"), condStage(3, "Review", "Revise")}
	cases := []struct {
		name   string
		task   *pb.Task
		stages []*pb.Stage
		answer string
		want   float64
	}{
		{"math, every rule met", testTask(famMath, false), full, "42", 1},
		{"math, four operators", testTask(famMath, false), full[1:], "42", 0},
		{"math, verbose answer without Format", testTask(famMath, false), full, "Let's see: the answer is 42", 0},
		{"math, verbose answer with Format", testTask(famMath, false), append(full[:3:3], opStage(4, "Format")), "Let's see: the answer is 42", 1},
		{"code with tests needs Test", testTask(famCode, true), full, "42", 0},
		{"code without tests", testTask(famCode, false), full, "42", 1},
		{"no structure", testTask(famMath, false), []*pb.Stage{opStage(1, "Programmer"), opStage(2, "Custom"), opStage(3, "Review"), opStage(4, "Revise"), opStage(5, "Format")}, "42", 0},
	}
	for _, tc := range cases {
		o := obsOf(tc.task, tc.stages...)
		o.Execution = &pb.Execution{FinalAnswer: tc.answer}
		if got := featuresOf(o, 8)[offFinishOK]; got != tc.want {
			t.Errorf("%s: finish bit %v, want %v", tc.name, got, tc.want)
		}
	}
}
