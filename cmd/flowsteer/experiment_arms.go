package main

// The construction code of `flowsteer search` and `flowsteer experiment`:
// how a cell's policy is built, trained and evaluated, and how a search
// candidate is scored. It is kept in this one file, on the public
// constructors of services/trainer, internal/system and internal/eval, so
// that a change in how policies, backends and runs are built touches only
// here.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/flowsteer/flowsteer/data"
	pb "github.com/flowsteer/flowsteer/gen/go/flowsteer/v1"
	"github.com/flowsteer/flowsteer/internal/canvas"
	"github.com/flowsteer/flowsteer/internal/eval"
	"github.com/flowsteer/flowsteer/internal/executor/sim"
	"github.com/flowsteer/flowsteer/internal/experiment"
	"github.com/flowsteer/flowsteer/internal/fsutil"
	"github.com/flowsteer/flowsteer/internal/operator"
	"github.com/flowsteer/flowsteer/internal/policy"
	"github.com/flowsteer/flowsteer/internal/policy/embedded"
	"github.com/flowsteer/flowsteer/internal/protoconv"
	"github.com/flowsteer/flowsteer/internal/rollout"
	"github.com/flowsteer/flowsteer/internal/search"
	"github.com/flowsteer/flowsteer/internal/system"
	"github.com/flowsteer/flowsteer/internal/task"
	"github.com/flowsteer/flowsteer/internal/trainer"
	"github.com/flowsteer/flowsteer/internal/workflow"
	trainersvc "github.com/flowsteer/flowsteer/services/trainer"
)

// ---- search ------------------------------------------------------------------

// searchSpace is one family's search: the library's operators enabled for
// the family, the canvas's finish rules and turn budget as validity, and a
// scorer that runs a candidate on the family's training tasks.
type searchSpace struct {
	family    task.Family
	operators []string
	checkers  []string
	combiners []string
	valid     func(*workflow.Graph) error
	starts    []string
}

// newSearchSpace describes family f's space over lib for tasks ts (those
// of the family). maxRounds is the canvas's; a fixed policy spends one turn
// per added stage, one per prompt of each new operator node (two-step
// editing) and one to finish, so a candidate must fit in that.
//
// restrict, when set, confines the space further (a policy's action
// space: embedded.Expressible); the starts outside it are dropped.
func newSearchSpace(lib *operator.Library, f task.Family, ts []task.Task, maxRounds int, restrict func(*workflow.Graph) error) (*searchSpace, error) {
	hasTests := false
	for _, t := range ts {
		if !t.PublicTests.Empty() {
			hasTests = true
		}
	}
	sp := &searchSpace{family: f}
	for _, d := range lib.Defs() {
		if !d.EnabledFor(f) || d.NeedsTests && !hasTests {
			continue
		}
		sp.operators = append(sp.operators, d.Name)
		if d.Has(operator.Checker) {
			sp.checkers = append(sp.checkers, d.Name)
		}
		if d.Has(operator.Combiner) {
			sp.combiners = append(sp.combiners, d.Name)
		}
	}
	rules := canvas.DefaultFinishRules()
	sp.valid = func(g *workflow.Graph) error {
		st := g.Stats()
		switch {
		case g.Empty():
			return errors.New("empty")
		case st.TotalOperators < rules.MinOperators:
			return fmt.Errorf("fewer than %d operators", rules.MinOperators)
		case rules.RequireStructure && !st.HasStructure():
			return errors.New("no structure")
		case turnCost(g) > maxRounds:
			return fmt.Errorf("needs %d turns, the canvas allows %d", turnCost(g), maxRounds)
		// A workflow without Format is refused at finish whenever its
		// answer is verbose, which the search cannot know in advance.
		case rules.RequireFormatWhenVerbose && !g.Has("Format"):
			return errors.New("no Format")
		}
		solver, checker := false, false
		for _, op := range g.Operators() {
			if !slices.Contains(sp.operators, op) {
				return fmt.Errorf("%s is not enabled for %s", op, f)
			}
			solver = solver || lib.IsSolver(op)
			checker = checker || slices.Contains(sp.checkers, op)
		}
		if rules.RequireSolver && !solver || rules.RequireChecker && !checker {
			return errors.New("needs a solver and a checker")
		}
		if f == task.Code {
			if rules.RequireTestForCode && hasTests && !g.Has("Test") {
				return errors.New("code with tests needs Test")
			}
			if rules.RequireProgrammerOrTestForCode && !g.Has("Programmer") && !g.Has("Test") {
				return errors.New("code needs Programmer or Test")
			}
		}
		if restrict != nil {
			return restrict(g)
		}
		return nil
	}
	// Start from every hand-written baseline the family accepts, and a
	// code template where none does (full has no Test).
	for _, dsl := range []string{policy.Baselines["full"], policy.Baselines["self-consistency"], policy.Baselines["cot"],
		"Plan -> [Programmer, Programmer, Custom] -> ScEnsemble -> Test ? Programmer : done -> Review ? Revise : done -> Format",
		"Programmer -> Test ? Programmer : done -> Review ? Revise : done -> Format"} {
		g, err := workflow.Parse(dsl, lib)
		if err == nil && sp.valid(g) == nil {
			sp.starts = append(sp.starts, g.String())
		}
	}
	if len(sp.starts) == 0 {
		return nil, fmt.Errorf("search: no starting workflow is valid for %s", f)
	}
	return sp, nil
}

// turnCost is the turns a fixed policy needs to build g and finish.
func turnCost(g *workflow.Graph) int {
	n := 1 // finish
	for _, s := range g.Stages {
		n += 1 + len(s.Nodes())
	}
	return n
}

// searchScorer scores a candidate by its accuracy on tasks (one run each)
// and costs it the executor calls not answered from the cache.
func searchScorer(sys *system.System, tasks []task.Task, concurrency int) search.ScoreFunc {
	return func(ctx context.Context, g *workflow.Graph) (search.Score, error) {
		r := &eval.Runner{Executor: sys.Engine, Library: sys.Library, Scorer: sys.Scorer, Concurrency: concurrency}
		res, err := r.Run(ctx, g, tasks)
		if err != nil {
			return search.Score{}, err
		}
		sc := search.Score{}
		for _, x := range res {
			if x.Correct {
				sc.Value++
			}
			sc.Cost += x.Calls - x.CacheHits
		}
		sc.Value /= float64(max(1, len(res)))
		return sc, nil
	}
}

// searchFamilies runs one search per family of tasks (at most perFamily
// tasks each, the first ones) and returns the best workflow of each.
func searchFamilies(ctx context.Context, sys *system.System, tasks []task.Task, perFamily int, sc search.Config, maxRounds, concurrency int, restrict func(*workflow.Graph) error, progress io.Writer, onEval func(task.Family, search.Candidate)) (map[task.Family]search.Result, error) {
	fams, byFam := familyTasks(tasks, perFamily)
	out := map[task.Family]search.Result{}
	for _, f := range fams {
		sp, err := newSearchSpace(sys.Library, f, byFam[f], maxRounds, restrict)
		if err != nil {
			return out, err
		}
		cfg := sc
		cfg.Start, cfg.Operators, cfg.Checkers, cfg.Combiners, cfg.Valid = sp.starts, sp.operators, sp.checkers, sp.combiners, sp.valid
		n := 0
		cfg.OnEval = func(c search.Candidate) {
			n++
			if progress != nil {
				fmt.Fprintf(progress, "  search %s #%d: %.3f  %s\n", f, n, c.Score, c.DSL)
			}
			if onEval != nil {
				onEval(f, c)
			}
		}
		res, err := search.Run(ctx, cfg, searchScorer(sys, byFam[f], concurrency))
		out[f] = res
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// familyTasks groups tasks by family (at most perFamily each, the first
// ones; 0 = all), families sorted.
func familyTasks(tasks []task.Task, perFamily int) ([]task.Family, map[task.Family][]task.Task) {
	byFam := map[task.Family][]task.Task{}
	var fams []task.Family
	for _, t := range tasks {
		if _, ok := byFam[t.Family]; !ok {
			fams = append(fams, t.Family)
		}
		if perFamily <= 0 || len(byFam[t.Family]) < perFamily {
			byFam[t.Family] = append(byFam[t.Family], t)
		}
	}
	slices.Sort(fams)
	return fams, byFam
}

// jointResult is the best single workflow for every family and how it
// is played on each (search.Adapt: stages of operators a family does not
// enable are left out).
type jointResult struct {
	search.Result
	Families map[task.Family]string
}

// searchJoint runs one search over the tasks of every family together
// (at most perFamily tasks a family): the candidates are single workflows,
// valid on every family's canvas, scored by the mean of the families'
// accuracies. sc.Budget is per family, as in searchFamilies, so the joint
// search may spend what the per-family searches spend together; a
// candidate costs every family's calls, so sc.MaxEvals stays as it is.
func searchJoint(ctx context.Context, sys *system.System, tasks []task.Task, perFamily int, sc search.Config, maxRounds, concurrency int, progress io.Writer, onEval func(search.Candidate)) (jointResult, error) {
	fams, byFam := familyTasks(tasks, perFamily)
	var parts []search.Part
	for _, f := range fams {
		sp, err := newSearchSpace(sys.Library, f, byFam[f], maxRounds, nil)
		if err != nil {
			return jointResult{}, err
		}
		parts = append(parts, search.Part{Name: string(f), Operators: sp.operators, Checkers: sp.checkers, Combiners: sp.combiners,
			Valid: sp.valid, Start: sp.starts, Score: searchScorer(sys, byFam[f], concurrency)})
	}
	sc.Budget *= len(fams)
	cfg, score, err := search.Joint(sc, parts)
	if err != nil {
		return jointResult{}, err
	}
	n := 0
	cfg.OnEval = func(c search.Candidate) {
		n++
		if progress != nil {
			fmt.Fprintf(progress, "  search all families #%d: %.3f  %s\n", n, c.Score, c.DSL)
		}
		if onEval != nil {
			onEval(c)
		}
	}
	res, err := search.Run(ctx, cfg, score)
	out := jointResult{Result: res, Families: map[task.Family]string{}}
	if res.Best.DSL != "" {
		g, perr := workflow.Parse(res.Best.DSL, sys.Library)
		if perr != nil {
			return out, perr
		}
		for i, f := range fams {
			out.Families[f] = search.Adapt(g, parts[i].Operators).String()
		}
	}
	return out, err
}

// ---- experiment cells ----------------------------------------------------------

// armRunner plays the cells of `flowsteer experiment` on the simulated
// executor: train arms through services/trainer (one run directory per
// cell under DIR/train), every arm's evaluation through
// trainersvc.EvaluatePolicy with the cell's seed as the policy's and the
// sim's seed.
type armRunner struct {
	cfg       experiment.Config
	dir       string
	trainFile string // the training subset
	oneFile   string // one held-out task: the trainer's own evaluation is not used
	eval      []*pb.Task
	byFamily  map[string][]*pb.Task
	log       io.Writer
	// evalOrigin names the held-out file and where its tasks came from,
	// for the report.
	evalOrigin string

	trainMu    sync.Mutex
	trainLocks map[string]*sync.Mutex

	searchOnce sync.Once
	searched   map[string]string // family -> DSL
	searchErr  error

	jointOnce sync.Once
	joint     map[string]string // family -> the best single workflow as played there; jointKey -> the workflow
	jointErr  error

	policyOnce     sync.Once
	policySearched map[string]string // family -> DSL the embedded policy can build
	policyErr      error
}

// newArmRunner writes the task subsets into dir (once: a resumed run
// reads the same files) and loads the held-out tasks.
func newArmRunner(ctx context.Context, cfg experiment.Config, dir string, log io.Writer) (*armRunner, error) {
	r := newArmRunnerShell(cfg, dir, log)
	evalFile := filepath.Join(dir, "eval.jsonl")
	if err := subset(cfg.Tasks.Train, "train", cfg.Tasks.TrainPerFamily, r.trainFile); err != nil {
		return nil, err
	}
	origin, err := writeHeldOut(cfg.Tasks.Eval, cfg.Tasks.EvalPerFamily, cfg.Tasks.GenerateSeed, cfg.Tasks.Train, evalFile)
	if err != nil {
		return nil, err
	}
	r.evalOrigin = fmt.Sprintf("%s, %s", evalFile, origin)
	ts, _, err := system.LoadTasks(ctx, evalFile, "auto", nil, 0, nil)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(r.oneFile); errors.Is(err, fs.ErrNotExist) {
		if err := writeTasks(r.oneFile, ts[:1]); err != nil {
			return nil, err
		}
	}
	if train, err := loadSource(cfg.Tasks.Train, "train"); err == nil {
		shared := sharedQuestions(ts, train)
		for _, f := range slices.Sorted(maps.Keys(shared)) {
			r.evalOrigin += fmt.Sprintf("; %s: %d held-out tasks share their question with a training task (other tests or answers)", f, shared[f])
		}
	}
	for _, t := range ts {
		p := protoconv.TaskToPB(t)
		r.eval = append(r.eval, p)
		r.byFamily[string(t.Family)] = append(r.byFamily[string(t.Family)], p)
	}
	return r, nil
}

// newArmRunnerShell is the runner before its tasks are prepared: enough
// to resolve the train arms' configs (CheckTrain).
func newArmRunnerShell(cfg experiment.Config, dir string, log io.Writer) *armRunner {
	return &armRunner{cfg: cfg, dir: dir, log: log, byFamily: map[string][]*pb.Task{},
		trainFile: filepath.Join(dir, "train.jsonl"), oneFile: filepath.Join(dir, "trainer-eval.jsonl")}
}

// subset writes the first perFamily tasks of each family of src (empty:
// the built-in suite's split) to dst, unless dst exists.
func subset(src, split string, perFamily int, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if src == "" {
		b := suiteBytes(split)
		src = dst + ".suite"
		if err := os.WriteFile(src, b, 0o644); err != nil {
			return err
		}
		defer os.Remove(src)
	}
	ts, err := task.Load(src, "auto")
	if err != nil {
		return err
	}
	n := map[task.Family]int{}
	var keep []task.Task
	for _, t := range ts {
		if perFamily > 0 && n[t.Family] >= perFamily {
			continue
		}
		n[t.Family]++
		keep = append(keep, t)
	}
	return writeTasks(dst, keep)
}

func (r *armRunner) RunCell(ctx context.Context, arm experiment.Arm, seed int64) (experiment.Cell, error) {
	switch arm.Kind {
	case experiment.KindUntrained:
		return r.evaluate(ctx, &pb.PolicySpec{Kind: "embedded"}, seed, r.eval, "", evalMode{arm.Greedy, arm.Temperature})
	case experiment.KindRandom:
		return r.evaluate(ctx, &pb.PolicySpec{Kind: "random"}, seed, r.eval, "", evalMode{})
	case experiment.KindFixed:
		dsl := arm.DSL
		if b, ok := policy.Baselines[dsl]; ok {
			dsl = b
		}
		return r.evaluate(ctx, &pb.PolicySpec{Kind: "fixed", Dsl: dsl}, seed, r.eval, dsl, evalMode{})
	case experiment.KindTrain:
		ckpt, hidden, err := r.train(ctx, arm, seed)
		if err != nil {
			return experiment.Cell{}, err
		}
		// The network is evaluated with the shape it was trained with (an
		// arm may set policy.hidden).
		spec := &pb.PolicySpec{Kind: "embedded", Checkpoint: ckpt, Options: map[string]string{"hidden": strconv.Itoa(hidden)}}
		return r.evaluate(ctx, spec, seed, r.eval, ckpt, evalMode{arm.Greedy, arm.Temperature})
	case experiment.KindSearch, experiment.KindBestFixed, experiment.KindSearchPolicy:
		wf, err := r.found(ctx, arm.Kind)
		if err != nil {
			return experiment.Cell{}, err
		}
		return r.playPerFamily(ctx, wf, seed)
	}
	return experiment.Cell{}, fmt.Errorf("arm kind %q", arm.Kind)
}

// playPerFamily plays each family's held-out tasks with its workflow of
// wf (family -> DSL); the cell's note is wf as JSON.
func (r *armRunner) playPerFamily(ctx context.Context, wf map[string]string, seed int64) (experiment.Cell, error) {
	var cell experiment.Cell
	note, _ := json.Marshal(wf)
	for _, f := range slices.Sorted(maps.Keys(r.byFamily)) {
		dsl, ok := wf[f]
		if !ok {
			return cell, fmt.Errorf("no searched workflow for family %s (the training split has none of its tasks)", f)
		}
		c, err := r.evaluate(ctx, &pb.PolicySpec{Kind: "fixed", Dsl: dsl}, seed, r.byFamily[f], "", evalMode{})
		if err != nil {
			return cell, err
		}
		cell.Outcomes = append(cell.Outcomes, c.Outcomes...)
	}
	cell.Note = string(note)
	return cell, nil
}

// trainConfig is arm's trainer config for seed: the trainer's defaults
// (or train.base), the grid's sizes, the arm's reward and loss, then
// train.set and the arm's set, applied as `flowsteer train --set` applies
// them (so a key the run config does not have is refused by name), and
// last what the grid owns: the seed, the task files, one final
// checkpoint, the episodes in flight. key names the training run:
// a digest of everything but the run's name and concurrency, so two arms
// that train alike (differing only in how they are evaluated) share it.
func (r *armRunner) trainConfig(arm experiment.Arm, seed int64) (cfg trainer.Config, key string, err error) {
	var base []byte
	if r.cfg.Train.Base != "" {
		if base, err = os.ReadFile(r.cfg.Train.Base); err != nil {
			return cfg, "", fmt.Errorf("train.base: %w", err)
		}
	}
	sets := []string{
		fmt.Sprintf("steps=%d", r.cfg.Train.Steps),
		fmt.Sprintf("batch_tasks=%d", r.cfg.Train.BatchTasks),
		fmt.Sprintf("group_size=%d", r.cfg.Train.GroupSize),
	}
	if arm.Reward != "" {
		sets = append(sets, "reward.kind="+arm.Reward)
	}
	if arm.Loss != "" {
		sets = append(sets, "loss.kind="+arm.Loss)
	}
	sets = append(sets, r.cfg.Train.Set...)
	sets = append(sets, arm.Set...)
	if cfg, err = configWithSets(base, sets); err != nil {
		return cfg, "", err
	}
	cfg.Seed, cfg.Backend.SimSeed = seed, seed
	cfg.Eval.Tasks, cfg.Eval.Baselines, cfg.Eval.Every = 1, nil, 0
	cfg.Checkpoint.Every = cfg.Steps
	// The key leaves out the run's name, its concurrency and where DIR
	// is (the same directory may be given as another path on resume).
	cfg.Name, cfg.Concurrency = "", 0
	cfg.Tasks.Train, cfg.Tasks.Eval = filepath.Base(r.trainFile), filepath.Base(r.oneFile)
	sum := sha256.Sum256([]byte(cfg.YAML()))
	key = fmt.Sprintf("%x-s%d", sum[:6], seed)
	cfg.Name, cfg.Concurrency = arm.Name, r.cfg.Concurrency
	cfg.Tasks.Train, cfg.Tasks.Eval = r.trainFile, r.oneFile
	if err := cfg.Validate(); err != nil {
		return cfg, "", err
	}
	return cfg, key, nil
}

// CheckTrain resolves every train arm's trainer config before any cell
// runs, so a mistyped override fails the experiment at once, naming the
// arm and the key.
func (r *armRunner) CheckTrain() error {
	for i, a := range r.cfg.Arms {
		if a.Kind != experiment.KindTrain {
			continue
		}
		if a.WarmFrom != "" {
			// Its workflows are found later (by a search); a stand-in
			// checks the arm's own warm_start keys meanwhile.
			a.Set = append(slices.Clone(a.Set), `warm_start.workflows.math="Custom -> Format"`)
		}
		if _, _, err := r.trainConfig(a, r.cfg.Seeds[0]); err != nil {
			return fmt.Errorf("arms[%d] (%s): %w", i, a.Name, err)
		}
	}
	return nil
}

// train runs (or finds, when a previous run finished it) the cell's
// training run and returns its final checkpoint. Runs are keyed by their
// trainer config (trainConfig), and one key trains once even when two
// cells that share it run at the same time.
func (r *armRunner) train(ctx context.Context, arm experiment.Arm, seed int64) (ckptPath string, hidden int, err error) {
	if arm.WarmFrom != "" {
		ws, err := r.warmSets(ctx, arm.WarmFrom)
		if err != nil {
			return "", 0, fmt.Errorf("warm_from %s: %w", arm.WarmFrom, err)
		}
		arm.Set = append(slices.Clone(arm.Set), ws...)
	}
	cfg, key, err := r.trainConfig(arm, seed)
	if err != nil {
		return "", 0, err
	}
	mu := r.trainLock(key)
	mu.Lock()
	defer mu.Unlock()
	final := filepath.Join("checkpoints", fmt.Sprintf("step-%06d.ckpt", cfg.Steps))
	// A directory from before runs were keyed by config (DIR/train/ARM-sSEED)
	// holds the same run when neither the grid nor the arm overrides
	// anything.
	if len(r.cfg.Train.Set)+len(arm.Set) == 0 {
		legacy := filepath.Join(r.dir, "train", fmt.Sprintf("%s-s%d", arm.Name, seed), final)
		if _, err := os.Stat(legacy); err == nil {
			return legacy, cfg.Policy.Hidden, nil
		}
	}
	dir := filepath.Join(r.dir, "train", key)
	ckpt := filepath.Join(dir, final)
	if _, err := os.Stat(ckpt); err == nil {
		return ckpt, cfg.Policy.Hidden, nil
	}
	// An unfinished run is started again from scratch: its config is the
	// same, and a partial run is cheaper to redo than to reconcile.
	if err := os.RemoveAll(dir); err != nil {
		return "", 0, err
	}
	p, err := trainersvc.Prepare(ctx, cfg, trainersvc.Options{Dir: dir, Observer: quietObserver{}})
	if err != nil {
		return "", 0, err
	}
	defer p.Close()
	if err := p.Trainer.Run(ctx); err != nil {
		return "", 0, err
	}
	if _, err := os.Stat(ckpt); err != nil {
		return "", 0, fmt.Errorf("training finished without %s: %w", ckpt, err)
	}
	return ckpt, cfg.Policy.Hidden, nil
}

// trainLock is the mutex of one training run's key.
func (r *armRunner) trainLock(key string) *sync.Mutex {
	r.trainMu.Lock()
	defer r.trainMu.Unlock()
	if r.trainLocks == nil {
		r.trainLocks = map[string]*sync.Mutex{}
	}
	if r.trainLocks[key] == nil {
		r.trainLocks[key] = &sync.Mutex{}
	}
	return r.trainLocks[key]
}

// search runs the search arm's per-family search on the training subset
// once; its result is kept in DIR/search.json for resumed runs.
func (r *armRunner) search(ctx context.Context) (map[string]string, error) {
	return r.searchOnceInto(ctx, "search.json", func(sys *system.System, ts []task.Task, sc search.Config) (map[string]string, error) {
		return r.searchFamiliesInto(ctx, sys, ts, sc, nil, "search")
	})
}

// searchPolicy runs the search-policy arm's search (the search arm's,
// confined to what the embedded policy can build) once; its result is
// kept in DIR/search-policy.json.
func (r *armRunner) searchPolicy(ctx context.Context) (map[string]string, error) {
	return r.searchOnceInto(ctx, "search-policy.json", func(sys *system.System, ts []task.Task, sc search.Config) (map[string]string, error) {
		return r.searchFamiliesInto(ctx, sys, ts, sc, embedded.Expressible, "search-policy")
	})
}

func (r *armRunner) searchFamiliesInto(ctx context.Context, sys *system.System, ts []task.Task, sc search.Config, restrict func(*workflow.Graph) error, what string) (map[string]string, error) {
	res, err := searchFamilies(ctx, sys, ts, r.cfg.Search.TasksPerFamily, sc, trainer.DefaultConfig().MaxRounds, r.cfg.Concurrency, restrict, r.log, nil)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for f, x := range res {
		m[string(f)] = x.Best.DSL
		fmt.Fprintf(r.log, "%s %s: %s (train accuracy %.3f, %d candidates, %d executor calls, stopped: %s)\n",
			what, f, x.Best.DSL, x.Best.Score, len(x.Evaluated), x.Spent, x.Stopped)
	}
	return m, nil
}

// found returns the workflows (family -> DSL) that the search arm kind
// finds, searching once per experiment whichever arm asks first.
func (r *armRunner) found(ctx context.Context, kind string) (map[string]string, error) {
	switch kind {
	case experiment.KindSearch:
		r.searchOnce.Do(func() { r.searched, r.searchErr = r.search(ctx) })
		return r.searched, r.searchErr
	case experiment.KindBestFixed:
		r.jointOnce.Do(func() { r.joint, r.jointErr = r.searchJoint(ctx) })
		return r.joint, r.jointErr
	case experiment.KindSearchPolicy:
		r.policyOnce.Do(func() { r.policySearched, r.policyErr = r.searchPolicy(ctx) })
		return r.policySearched, r.policyErr
	}
	return nil, fmt.Errorf("no search finds the workflows of arm kind %q", kind)
}

// warmSets are the trainer overrides that warm-start a train arm from the
// workflows its warm_from names (family -> DSL; best-fixed's own key for
// the single workflow is left out: its families' entries are how it plays).
func (r *armRunner) warmSets(ctx context.Context, from string) ([]string, error) {
	m, err := r.found(ctx, from)
	if err != nil {
		return nil, err
	}
	var sets []string
	for _, f := range slices.Sorted(maps.Keys(m)) {
		if f != jointKey {
			sets = append(sets, fmt.Sprintf("warm_start.workflows.%s=%s", f, strconv.Quote(m[f])))
		}
	}
	return sets, nil
}

// jointKey is the key of best-fixed.json (and of the best-fixed arm's
// note) that holds the one workflow itself; the other keys are families.
const jointKey = "(all families)"

// searchJoint runs the best-fixed arm's joint search on the training
// subset once, with the search arm's seed and budget (per family, so the
// two searches may spend the same); its result is kept in
// DIR/best-fixed.json for resumed runs.
func (r *armRunner) searchJoint(ctx context.Context) (map[string]string, error) {
	return r.searchOnceInto(ctx, "best-fixed.json", func(sys *system.System, ts []task.Task, sc search.Config) (map[string]string, error) {
		res, err := searchJoint(ctx, sys, ts, r.cfg.Search.TasksPerFamily, sc, trainer.DefaultConfig().MaxRounds, r.cfg.Concurrency, r.log, nil)
		if err != nil {
			return nil, err
		}
		m := map[string]string{jointKey: res.Best.DSL}
		for f, dsl := range res.Families {
			m[string(f)] = dsl
		}
		fmt.Fprintf(r.log, "best single workflow: %s (train accuracy %.3f over every family, %d candidates, %d executor calls, stopped: %s)\n",
			res.Best.DSL, res.Best.Score, len(res.Evaluated), res.Spent, res.Stopped)
		return m, nil
	})
}

// searchOnceInto returns the workflows kept in DIR/name, or runs find on a
// simulated system seeded with the search seed over the training subset
// and keeps what it returns there.
func (r *armRunner) searchOnceInto(ctx context.Context, name string, find func(*system.System, []task.Task, search.Config) (map[string]string, error)) (map[string]string, error) {
	path := filepath.Join(r.dir, name)
	if b, err := os.ReadFile(path); err == nil {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err == nil {
			return m, nil
		}
	}
	seed := r.cfg.Search.Seed
	o := system.DefaultOptions()
	o.BackendConfig = sim.Options{Seed: seed}
	sys, err := system.BuildContext(ctx, o)
	if err != nil {
		return nil, err
	}
	defer sys.Close()
	ts, _, err := system.LoadTasks(ctx, r.trainFile, "auto", nil, 0, sys.Scorer.CodeRunner())
	if err != nil {
		return nil, err
	}
	m, err := find(sys, ts, search.Config{Seed: seed, Budget: r.cfg.Search.Budget, MaxEvals: r.cfg.Search.MaxEvals})
	if err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := fsutil.WriteFileAtomic(path, append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

// evalMode is how an arm's policy decides in evaluation: sampled at
// temperature (0 = 1), or greedy.
type evalMode struct {
	greedy      bool
	temperature float64
}

// evaluate plays one episode per task with spec, sampled (or greedy), the
// cell's seed seeding the policy and the simulated executor.
func (r *armRunner) evaluate(ctx context.Context, spec *pb.PolicySpec, seed int64, tasks []*pb.Task, note string, mode evalMode) (experiment.Cell, error) {
	obs := &recordObserver{}
	set, err := trainersvc.PolicySpecOptions(spec)
	if err != nil {
		return experiment.Cell{}, err
	}
	_, err = trainersvc.EvaluatePolicy(ctx, trainersvc.EvalSpec{Policy: spec.GetKind(), PolicyOptions: set, Tasks: tasks, Concurrency: r.cfg.Concurrency,
		Backend: sim.Kind, BackendOptions: map[string]any{"sim_seed": seed}, Sample: !mode.greedy, Temperature: mode.temperature, Seed: seed, Observer: obs})
	if err != nil {
		return experiment.Cell{}, err
	}
	return experiment.Cell{Outcomes: obs.outcomes, Note: note}, nil
}

// recordObserver keeps every evaluated episode as an Outcome.
type recordObserver struct {
	quietObserver
	mu       sync.Mutex
	outcomes []experiment.Outcome
}

func (o *recordObserver) EpisodeDone(_ int64, r *rollout.Record) {
	out := experiment.Outcome{TaskID: r.Task.GetId(), Family: string(protoconv.FamilyFromPB(r.Task.GetFamily())), Turns: len(r.Turns)}
	if r.Err != nil || r.Final == nil {
		out.Failed = true
	} else {
		rb := r.Final.GetReward()
		out.Reward, out.Correct, out.Released = rb.GetReward(), rb.GetScore().GetCorrect(), rb.GetReleased()
		out.Finished, out.DSL = r.Finished(), r.Final.GetWorkflow().GetDsl()
	}
	o.mu.Lock()
	o.outcomes = append(o.outcomes, out)
	o.mu.Unlock()
}

// quietObserver hears nothing.
type quietObserver struct{}

func (quietObserver) StepStarted(int64, int64, int)      {}
func (quietObserver) EpisodeDone(int64, *rollout.Record) {}
func (quietObserver) StepDone(*pb.StepMetrics)           {}
func (quietObserver) EvalStarted(int64, []string, int)   {}
func (quietObserver) EvalDone(*pb.EvalReport)            {}
func (quietObserver) Log(string)                         {}

// suiteBytes is the built-in offline suite's split.
func suiteBytes(split string) []byte {
	if split == "train" {
		return data.Train
	}
	return data.Eval
}
