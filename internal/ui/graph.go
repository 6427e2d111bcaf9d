package ui

import (
	"fmt"
	"strings"

	"github.com/flowsteer/flowsteer/internal/operator/builtin"
	"github.com/flowsteer/flowsteer/internal/replay"
	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Graph is a workflow laid out for SVG: one column per top-level stage,
// the nodes of a structure stacked in its column. The template draws it,
// so every label is escaped like any other text.
type Graph struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Boxes  []Box  `json:"boxes"`
	Edges  []Edge `json:"edges"`
}

// Box is one node.
type Box struct {
	X, Y, W, H int
	ID         string `json:"id"`
	Label      string `json:"label"`
	Status     string `json:"status"` // ok, failed, skipped, pending
	Note       string `json:"note,omitempty"`
}

// Edge joins two stages.
type Edge struct{ X1, Y1, X2, Y2 int }

const (
	boxW, boxH = 120, 30
	colGap     = 36
	rowGap     = 10
	pad        = 8
)

type col struct {
	id    string
	kind  string
	nodes []Box
}

// stageOf is the top-level id of a node id: node_3_p1 -> node_3.
func stageOf(id string) string {
	parts := strings.SplitN(id, "_", 3)
	if len(parts) >= 2 {
		return parts[0] + "_" + parts[1]
	}
	return id
}

func kindOf(id string) string {
	switch {
	case strings.Contains(id, "_p"):
		return "parallel"
	case strings.HasSuffix(id, "_cond") || strings.HasSuffix(id, "_true") || strings.HasSuffix(id, "_false"):
		return "conditional"
	case strings.Contains(id, "_l"):
		return "loop"
	}
	return ""
}

// graphFromOutputs draws the nodes of an execution (in graph order), each
// coloured by its status; a node that ran several times (a loop) is drawn
// once with its last status.
func graphFromOutputs(outs []replay.NodeOutput) Graph {
	var cols []*col
	byStage := map[string]*col{}
	seen := map[string]int{}
	for _, o := range outs {
		st := stageOf(o.NodeID)
		c := byStage[st]
		if c == nil {
			c = &col{id: st}
			byStage[st] = c
			cols = append(cols, c)
		}
		if k := kindOf(o.NodeID); k != "" {
			c.kind = k
		}
		b := Box{ID: o.NodeID, Label: o.Operator, Status: o.Status}
		if o.Error != "" {
			b.Note = o.Error
		}
		if i, ok := seen[o.NodeID]; ok {
			c.nodes[i] = b
			continue
		}
		seen[o.NodeID] = len(c.nodes)
		c.nodes = append(c.nodes, b)
	}
	return layout(cols)
}

// graphFromDSL draws a workflow from its text (nodes not executed: pending).
func graphFromDSL(dsl string) Graph {
	if strings.TrimSpace(dsl) == "" {
		return Graph{}
	}
	g, err := workflow.Parse(dsl, builtin.Library())
	if err != nil {
		return layout([]*col{{id: "?", nodes: []Box{{ID: "unparsed", Label: "unparsed DSL", Status: "failed", Note: err.Error()}}}})
	}
	var cols []*col
	for _, s := range g.Stages {
		c := &col{id: s.ID}
		add := func(n *workflow.Node) {
			if n != nil {
				c.nodes = append(c.nodes, Box{ID: n.ID, Label: n.Operator, Status: "pending"})
			}
		}
		switch s.Kind {
		case workflow.Parallel:
			c.kind = "parallel"
			for _, n := range s.Branches {
				add(n)
			}
		case workflow.Conditional:
			c.kind = "conditional"
			add(s.Cond)
			add(s.True)
			add(s.False)
		case workflow.Loop:
			c.kind = fmt.Sprintf("loop ×%d", s.Count)
			for _, n := range s.Body {
				add(n)
			}
		default:
			add(s.Op)
		}
		cols = append(cols, c)
	}
	return layout(cols)
}

func layout(cols []*col) Graph {
	var g Graph
	maxRows := 1
	for _, c := range cols {
		maxRows = max(maxRows, len(c.nodes))
	}
	g.Height = pad*2 + 14 + maxRows*(boxH+rowGap)
	x := pad
	prevRight, prevMid := -1, 0
	for _, c := range cols {
		h := len(c.nodes)*(boxH+rowGap) - rowGap
		y0 := pad + 14 + (maxRows*(boxH+rowGap)-rowGap-h)/2
		for i := range c.nodes {
			b := &c.nodes[i]
			b.X, b.Y, b.W, b.H = x, y0+i*(boxH+rowGap), boxW, boxH
			if c.kind != "" && i == 0 {
				b.Note = strings.TrimSpace(c.kind + " " + b.Note)
			}
			g.Boxes = append(g.Boxes, *b)
		}
		mid := y0 + h/2
		if prevRight >= 0 {
			g.Edges = append(g.Edges, Edge{prevRight, prevMid, x, mid})
		}
		prevRight, prevMid = x+boxW, mid
		x += boxW + colGap
	}
	g.Width = max(x-colGap+pad, 2*pad)
	return g
}
