package trainer

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/runstore"
)

func numberedTasks(n int, sources ...string) []*pb.Task {
	var out []*pb.Task
	for i := range n {
		src := ""
		if len(sources) > 0 {
			src = sources[i%len(sources)]
		}
		out = append(out, task(fmt.Sprintf("t%02d", i), pb.TaskFamily(1+i%3), src))
	}
	return out
}

func trainerFor(t *testing.T, cfg Config, tasks []*pb.Task) *Trainer {
	t.Helper()
	tr, err := New(cfg, Env{Canvas: newFakeCanvas(nil), Learner: &fakeLearner{}}, runstore.Run{ID: runID}, 0, tasks, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// batchIDs is a step's groups as task ids.
func batchIDs(tr *Trainer, step int64) [][]string {
	var out [][]string
	for _, g := range tr.batch(step) {
		var ids []string
		for _, tk := range g.tasks {
			ids = append(ids, tk.GetId())
		}
		out = append(out, ids)
	}
	return out
}

func TestBatchIsDeterministicForASeed(t *testing.T) {
	for _, grouping := range []string{"task", "source"} {
		t.Run(grouping, func(t *testing.T) {
			cfg := smallConfig(3, 4)
			cfg.Grouping = grouping
			cfg.Steps = 20
			tasks := numberedTasks(24, "gsm8k", "math", "hotpotqa")
			a, b := trainerFor(t, cfg, tasks), trainerFor(t, cfg, tasks)
			cfg.Seed = 2
			other := trainerFor(t, cfg, tasks)
			differs := false
			for step := int64(1); step <= 20; step++ {
				x := batchIDs(a, step)
				if !reflect.DeepEqual(x, batchIDs(a, step)) || !reflect.DeepEqual(x, batchIDs(b, step)) {
					t.Fatalf("step %d: two draws of the same seed differ", step)
				}
				if !reflect.DeepEqual(x, batchIDs(other, step)) {
					differs = true
				}
			}
			if !differs {
				t.Error("seed 2 draws the same batches as seed 1")
			}
		})
	}
}

func TestBatchTaskGroupingCoversTheTaskSetEachEpoch(t *testing.T) {
	for _, tc := range []struct{ tasks, batch int }{{12, 4}, {12, 3}, {10, 5}, {7, 7}, {5, 1}} {
		t.Run(fmt.Sprintf("%d tasks by %d", tc.tasks, tc.batch), func(t *testing.T) {
			cfg := smallConfig(tc.batch, 3)
			tr := trainerFor(t, cfg, numberedTasks(tc.tasks))
			perEpoch := tc.tasks / tc.batch
			for epoch := range 3 {
				seen := map[string]int{}
				for s := range perEpoch {
					step := int64(epoch*perEpoch + s + 1)
					groups := tr.batch(step)
					if len(groups) != tc.batch {
						t.Fatalf("step %d: %d groups, want batch_tasks %d", step, len(groups), tc.batch)
					}
					ids := map[string]bool{}
					for _, g := range groups {
						if len(g.tasks) != cfg.GroupSize {
							t.Fatalf("group %s has %d episodes, want group_size %d", g.id, len(g.tasks), cfg.GroupSize)
						}
						for _, tk := range g.tasks {
							if tk != g.tasks[0] {
								t.Fatalf("group %s mixes tasks", g.id)
							}
						}
						if ids[g.id] {
							t.Fatalf("step %d: group id %s twice", step, g.id)
						}
						ids[g.id] = true
						seen[g.tasks[0].GetId()]++
					}
				}
				if len(seen) != tc.tasks {
					t.Errorf("epoch %d saw %d of %d tasks", epoch, len(seen), tc.tasks)
				}
				for id, n := range seen {
					if n != 1 {
						t.Errorf("epoch %d: task %s drawn %d times", epoch, id, n)
					}
				}
			}
			var first, second [][]string
			for s := range perEpoch {
				first = append(first, batchIDs(tr, int64(s+1))...)
				second = append(second, batchIDs(tr, int64(perEpoch+s+1))...)
			}
			if reflect.DeepEqual(first, second) {
				t.Error("two epochs draw the tasks in the same order: the order is not reshuffled")
			}
		})
	}
}

// With fewer tasks than batch_tasks, a batch holds each task once: a
// repeated task would be a second group with the same id and seeds.
func TestBatchLargerThanTheTaskSetHoldsEachTaskOnce(t *testing.T) {
	tr := trainerFor(t, smallConfig(5, 2), numberedTasks(2))
	groups := tr.batch(1)
	if len(groups) != 2 {
		t.Fatalf("%d groups, want one per task (2)", len(groups))
	}
	ids := map[string]bool{}
	for _, g := range groups {
		if ids[g.id] {
			t.Errorf("group id %s is used twice in one step", g.id)
		}
		ids[g.id] = true
	}
}

func TestBatchSourceGroupingDrawsDistinctTasksPerSource(t *testing.T) {
	sources := []string{"gsm8k", "hotpotqa", "mbpp"}
	tasks := numberedTasks(30, sources...)
	srcOf := map[string]string{}
	for _, tk := range tasks {
		srcOf[tk.GetId()] = tk.GetSource()
	}
	cfg := smallConfig(3, 4)
	cfg.Grouping = "source"
	tr := trainerFor(t, cfg, tasks)
	played := map[string]int{}
	for step := int64(1); step <= 10; step++ {
		groups := tr.batch(step)
		if len(groups) != 3 {
			t.Fatalf("step %d: %d groups, want one per source", step, len(groups))
		}
		srcs := map[string]bool{}
		for _, g := range groups {
			if len(g.tasks) != 4 {
				t.Fatalf("group %s: %d tasks, want group_size 4", g.id, len(g.tasks))
			}
			src := srcOf[g.tasks[0].GetId()]
			ids := map[string]bool{}
			for _, tk := range g.tasks {
				if srcOf[tk.GetId()] != src {
					t.Fatalf("group %s mixes sources", g.id)
				}
				if ids[tk.GetId()] {
					t.Fatalf("group %s holds task %s twice", g.id, tk.GetId())
				}
				ids[tk.GetId()] = true
				played[tk.GetId()]++
			}
			srcs[src] = true
		}
		if len(srcs) != 3 {
			t.Errorf("step %d covers sources %v, want all three", step, srcs)
		}
	}
	// Ten sources-steps of four tasks out of ten per source: most of the
	// set is seen, not the same few tasks over and over.
	if len(played) < 24 {
		t.Errorf("10 steps played only %d distinct tasks of 30", len(played))
	}
}

func TestTemperatureAnnealsLinearly(t *testing.T) {
	for _, tc := range []struct {
		name         string
		steps        int
		start, final float64
		want         map[int64]float64
	}{
		{"constant without a final temperature", 5, 0.8, 0, map[int64]float64{1: 0.8, 3: 0.8, 5: 0.8}},
		{"cooling", 5, 1, 0.2, map[int64]float64{1: 1, 2: 0.8, 3: 0.6, 4: 0.4, 5: 0.2}},
		{"warming", 3, 0.5, 1.5, map[int64]float64{1: 0.5, 2: 1, 3: 1.5}},
		{"one step keeps the start", 1, 1, 0.3, map[int64]float64{1: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallConfig(1, 2)
			cfg.Steps, cfg.Sampling.Temperature, cfg.Sampling.FinalTemperature = tc.steps, tc.start, tc.final
			tr := trainerFor(t, cfg, numberedTasks(2))
			for step, want := range tc.want {
				if got := tr.temperature(step); !near(got, want) {
					t.Errorf("temperature(%d) = %v, want %v", step, got, want)
				}
			}
		})
	}
}

// The scheduled temperature, top-p and top-k reach the policy, and each
// episode of a group gets its own seed.
func TestStepSamplesWithTheScheduledSettings(t *testing.T) {
	cfg := smallConfig(1, 4)
	cfg.Steps, cfg.Sampling.Temperature, cfg.Sampling.FinalTemperature = 5, 1, 0.2
	cfg.Sampling.TopP, cfg.Sampling.TopK = 0.9, 7
	r := newRig(t, cfg, []*pb.Task{task("a", pb.TaskFamily_TASK_FAMILY_MATH, "")}, nil, map[string][]outcome{"a": rewards(-1, 1)})
	if _, err := r.tr.Step(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	seeds := map[int64]bool{}
	for _, s := range r.learner.sampling {
		if !near(s.Temperature, 0.6) || s.TopP != 0.9 || s.TopK != 7 || s.Greedy {
			t.Errorf("sampling %+v, want temperature 0.6, top_p 0.9, top_k 7, not greedy", s)
		}
		if s.Seed == nil {
			t.Fatal("no sampling seed: a rerun would not reproduce the step")
		}
		seeds[*s.Seed] = true
	}
	if len(seeds) != 4 {
		t.Errorf("%d distinct seeds over the 4 episodes of a group, want 4", len(seeds))
	}
}
