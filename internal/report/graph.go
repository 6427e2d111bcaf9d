package report

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"github.com/flowsteer/flowsteer/internal/workflow"
)

// Workflow drawings: stages left to right on one mid line, each stage's
// entry and exit on that line, so stages of any kind chain with a straight
// arrow. Boxes are sized from the operator name in a monospace font, whose
// advance width is predictable without measuring text.
const (
	boxH      = 30.0
	charW     = 7.3 // advance of 12px monospace
	boxPadX   = 10.0
	minBoxW   = 60.0
	stageGap  = 30.0 // arrow between stages
	laneGap   = 12.0 // vertical gap between stacked boxes
	forkRun   = 26.0 // fork dot to branch boxes
	condRun   = 140.0
	loopPad   = 12.0
	loopHead  = 20.0 // room for the "× N" label above the body
	loopFoot  = 18.0 // room for the repeat arrow under the body
	graphPadX = 14.0
	graphPadY = 12.0
	termR     = 6.0
)

func boxW(op string) float64 {
	return math.Max(minBoxW, float64(len([]rune(op)))*charW+2*boxPadX)
}

// svgBuf collects SVG elements; all coordinates pass through num and all
// text through esc.
type svgBuf struct{ strings.Builder }

func (b *svgBuf) box(x, midY float64, op, class string) float64 {
	w := boxW(op)
	fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" rx="5" class="%s"/>`, num(x), num(midY-boxH/2), num(w), num(boxH), class)
	fmt.Fprintf(b, `<text x="%s" y="%s" class="op" text-anchor="middle">%s</text>`, num(x+w/2), num(midY+4), esc(op))
	return w
}

// arrow draws a polyline through pts with a head at the last point; the
// head is a polygon rather than a marker so that no element ids are needed
// (several drawings share one HTML page, and ids must be unique in it).
func (b *svgBuf) arrow(class string, pts ...[2]float64) {
	s := make([]string, len(pts))
	for i, p := range pts {
		s[i] = num(p[0]) + "," + num(p[1])
	}
	fmt.Fprintf(b, `<polyline points="%s" class="%s"/>`, strings.Join(s, " "), class)
	a, z := pts[len(pts)-2], pts[len(pts)-1]
	dx, dy := z[0]-a[0], z[1]-a[1]
	l := math.Hypot(dx, dy)
	if l == 0 {
		return
	}
	ux, uy := dx/l, dy/l
	const hl, hw = 7.0, 3.5
	bx, by := z[0]-ux*hl, z[1]-uy*hl
	fmt.Fprintf(b, `<polygon points="%s,%s %s,%s %s,%s" class="%s head"/>`,
		num(z[0]), num(z[1]), num(bx-uy*hw), num(by+ux*hw), num(bx+uy*hw), num(by-ux*hw), class)
}

func (b *svgBuf) label(x, y float64, text, class string) {
	fmt.Fprintf(b, `<text x="%s" y="%s" class="%s" text-anchor="middle">%s</text>`, num(x), num(y), class, esc(text))
}

func (b *svgBuf) dot(x, y float64) {
	fmt.Fprintf(b, `<circle cx="%s" cy="%s" r="3.5" class="dot"/>`, num(x), num(y))
}

// stageSize is a stage's footprint; up and down are its extent above and
// below the mid line (a conditional and a loop are not symmetric).
func stageSize(s *workflow.Stage) (w, up, down float64) {
	switch s.Kind {
	case workflow.Parallel:
		bw := 0.0
		for _, n := range s.Branches {
			bw = math.Max(bw, boxW(n.Operator))
		}
		h := float64(len(s.Branches))*boxH + float64(len(s.Branches)-1)*laneGap
		return 2*forkRun + bw, h / 2, h / 2
	case workflow.Conditional:
		bw := boxW(workflow.Done)
		if s.True != nil {
			bw = math.Max(bw, boxW(s.True.Operator))
		}
		if s.False != nil {
			bw = math.Max(bw, boxW(s.False.Operator))
		}
		lane := boxH/2 + laneGap/2 + 8
		return boxW(s.Cond.Operator) + condRun + bw + forkRun, lane + boxH/2, lane + boxH/2
	case workflow.Loop:
		w := 2 * loopPad
		for i, n := range s.Body {
			if i > 0 {
				w += stageGap
			}
			w += boxW(n.Operator)
		}
		return w, boxH/2 + loopPad + loopHead, boxH/2 + loopPad + loopFoot
	default:
		return boxW(s.Op.Operator), boxH / 2, boxH / 2
	}
}

// drawStage draws s with its entry at (x, midY) and returns its exit x.
func (b *svgBuf) drawStage(s *workflow.Stage, x, midY float64) float64 {
	w, up, down := stageSize(s)
	switch s.Kind {
	case workflow.Parallel:
		fork, join := x, x+w
		b.dot(fork, midY)
		b.dot(join, midY)
		y := midY - up + boxH/2
		for _, n := range s.Branches {
			bx := x + forkRun
			b.arrow("edge", [2]float64{fork, midY}, [2]float64{bx, y})
			bw := b.box(bx, y, n.Operator, "node")
			b.arrow("edge", [2]float64{bx + bw, y}, [2]float64{join, midY})
			y += boxH + laneGap
		}
		b.label(x+w/2, midY-up-4, "parallel", "gnote")
	case workflow.Conditional:
		cw := b.box(x, midY, s.Cond.Operator, "node checker")
		lane := up - boxH/2
		bx := x + cw + condRun
		join := x + w
		out := [2]float64{x + cw, midY}
		split := [2]float64{x + cw + 14, midY}
		b.dot(join, midY)

		// The true branch is the repair: it runs when the checker judges
		// the solution wrong (SPEC §3). Label it so, not "true".
		ty := midY - lane
		b.arrow("edge repair", out, split, [2]float64{split[0] + 14, ty}, [2]float64{bx, ty})
		b.label((split[0]+14+bx)/2, ty-6, "wrong → repair", "elabel repair")
		tw := b.box(bx, ty, s.True.Operator, "node")
		b.arrow("edge", [2]float64{bx + tw, ty}, [2]float64{join, midY})

		fy := midY + lane
		if s.False != nil {
			b.arrow("edge pass", out, split, [2]float64{split[0] + 14, fy}, [2]float64{bx, fy})
			b.label((split[0]+14+bx)/2, fy-6, "pass", "elabel pass")
			fw := b.box(bx, fy, s.False.Operator, "node")
			b.arrow("edge", [2]float64{bx + fw, fy}, [2]float64{join, midY})
		} else {
			// done: a pass goes straight on with nothing run.
			b.arrow("edge pass", out, split, [2]float64{split[0] + 14, fy}, [2]float64{join - 14, fy}, [2]float64{join, midY})
			b.label((split[0]+14+bx)/2, fy-6, "pass → done", "elabel pass")
		}
	case workflow.Loop:
		top, bottom := midY-up, midY+down
		fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" rx="8" class="loop"/>`, num(x), num(top), num(w), num(bottom-top))
		b.label(x+w-24, top+15, fmt.Sprintf("× %d", s.Count), "count")
		bx := x + loopPad
		first := bx
		for i, n := range s.Body {
			if i > 0 {
				b.arrow("edge", [2]float64{bx - stageGap, midY}, [2]float64{bx, midY})
			}
			bx += b.box(bx, midY, n.Operator, "node") + stageGap
		}
		last := bx - stageGap
		// The repeat edge runs under the body back to its start.
		ry := midY + boxH/2 + loopFoot/2 + 2
		b.arrow("edge back", [2]float64{last - 10, midY + boxH/2}, [2]float64{last - 10, ry}, [2]float64{first + 10, ry}, [2]float64{first + 10, midY + boxH/2})
	default:
		b.box(x, midY, s.Op.Operator, "node")
	}
	return x + w
}

// workflowSVG draws a parsed workflow from a start terminal to an answer
// terminal.
func workflowSVG(g *workflow.Graph) template.HTML {
	width := graphPadX*2 + termR*2 + stageGap
	up, down := termR+2, termR+2
	for _, s := range g.Stages {
		w, u, d := stageSize(s)
		width += w + stageGap
		up, down = math.Max(up, u), math.Max(down, d)
	}
	width += termR * 2
	// The parallel label sits above its block.
	up += 10
	height := graphPadY*2 + up + down
	midY := graphPadY + up

	var b svgBuf
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="wf" width="%s" height="%s" viewBox="0 0 %s %s" role="img" aria-label="%s">`,
		num(width), num(height), num(width), num(height), esc(g.String()))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(g.String()))
	x := graphPadX + termR
	fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%s" class="term"><title>problem</title></circle>`, num(x), num(midY), num(termR))
	x += termR
	for _, s := range g.Stages {
		b.arrow("edge", [2]float64{x, midY}, [2]float64{x + stageGap, midY})
		x = b.drawStage(s, x+stageGap, midY)
	}
	b.arrow("edge", [2]float64{x, midY}, [2]float64{x + stageGap, midY})
	x += stageGap + termR
	fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%s" class="term end"><title>answer</title></circle>`, num(x), num(midY), num(termR))
	fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="%s" class="term-in"/>`, num(x), num(midY), num(termR-3))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
