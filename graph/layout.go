package graph

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Layout geometry, in SVG pixels.
const (
	margin     = 24
	nodeHeight = 46
	rowGap     = 92  // from one node's top to the next one's in a column
	columnGap  = 210 // free space between two columns, for edge labels
	minWidth   = 150
	charWidth  = 7.4 // average width of a 13px sans-serif character
	lineHeight = 15
	titleSpace = 44 // above the graph: the title line
)

// box is a node's place.
type box struct {
	X, Y, W, H float64
	layer, row int
}

func (b box) cx() float64 { return b.X + b.W/2 }
func (b box) cy() float64 { return b.Y + b.H/2 }

// rect is a label's place.
type rect struct{ X, Y, W, H float64 }

func (r rect) overlaps(o rect) bool {
	return r.X < o.X+o.W && o.X < r.X+r.W && r.Y < o.Y+o.H && o.Y < r.Y+r.H
}

// edgePlace is an edge's path and its label's box.
type edgePlace struct {
	Path  string
	Label rect
	// Lines are the label's text lines.
	Lines []string
}

// layout is a placed graph.
type layout struct {
	Nodes         []box // by index in Graph.Nodes
	Edges         []edgePlace
	Width, Height float64
}

func textWidth(s string) float64 { return float64(utf8.RuneCountInString(s)) * charWidth }

// kindRank orders a column: the namespace's workloads first, outside
// peers last.
func kindRank(k NodeKind) int {
	switch k {
	case KindWorkload:
		return 0
	case KindPeer:
		return 1
	case KindNode:
		return 2
	}
	return 3
}

// place lays the graph out left to right in layers: a node's column is the
// longest path to it from a node nothing calls (cycles broken where a
// depth-first walk finds them), outside peers in the last column; within a
// column, nodes are ordered by the mean position of their neighbours
// (a few sweeps), then spread evenly.
func place(g *Graph) layout {
	n := len(g.Nodes)
	idx := make(map[string]int, n)
	for i, nd := range g.Nodes {
		idx[nd.ID] = i
	}
	out := make([][]int, n)
	for _, e := range g.Edges {
		f, t := idx[e.From], idx[e.To]
		if f != t {
			out[f] = append(out[f], t)
		}
	}
	back := backEdges(n, out, g)
	layer := make([]int, n)
	// Longest path over the forward edges (a DAG): relax n times at most.
	for changed, rounds := true, 0; changed && rounds <= n; rounds++ {
		changed = false
		for f := range n {
			for _, t := range out[f] {
				if !back[[2]int{f, t}] && layer[t] < layer[f]+1 {
					layer[t] = layer[f] + 1
					changed = true
				}
			}
		}
	}
	maxLayer := 0
	for _, l := range layer {
		maxLayer = max(maxLayer, l)
	}
	if slices.ContainsFunc(g.Nodes, func(nd Node) bool { return nd.Kind == KindExternal }) {
		// Outside peers get a column of their own, on the right.
		lastInner := 0
		for i, nd := range g.Nodes {
			if nd.Kind != KindExternal {
				lastInner = max(lastInner, layer[i])
			}
		}
		for i, nd := range g.Nodes {
			if nd.Kind == KindExternal {
				layer[i] = lastInner + 1
			}
		}
		maxLayer = lastInner + 1
	}
	cols := make([][]int, maxLayer+1)
	for i := range n {
		cols[layer[i]] = append(cols[layer[i]], i)
	}
	for _, c := range cols {
		slices.SortFunc(c, func(a, b int) int {
			na, nb := &g.Nodes[a], &g.Nodes[b]
			return cmp.Or(cmp.Compare(kindRank(na.Kind), kindRank(nb.Kind)), cmp.Compare(na.Label, nb.Label), cmp.Compare(na.ID, nb.ID))
		})
	}
	order(cols, g, idx)

	lay := layout{Nodes: make([]box, n)}
	maxRows := 0
	for _, c := range cols {
		maxRows = max(maxRows, len(c))
	}
	x := float64(margin)
	for li, c := range cols {
		w := float64(minWidth)
		for _, i := range c {
			w = max(w, textWidth(g.Nodes[i].Label)+28, textWidth(g.Nodes[i].Detail)*0.85+28)
		}
		top := margin + titleSpace + float64(maxRows-len(c))*rowGap/2
		for r, i := range c {
			lay.Nodes[i] = box{X: x, Y: top + float64(r)*rowGap, W: w, H: nodeHeight, layer: li, row: r}
		}
		x += w + columnGap
	}
	lay.Width = x - columnGap + margin
	lay.Height = margin + titleSpace + float64(maxRows)*rowGap
	lay.Edges = routeEdges(g, idx, lay.Nodes, &lay)
	return lay
}

// backEdges returns the edges a depth-first walk (in node order) finds
// going back to a node on its stack: reversing them makes the graph
// acyclic.
func backEdges(n int, out [][]int, g *Graph) map[[2]int]bool {
	back := map[[2]int]bool{}
	state := make([]uint8, n) // 0 new, 1 on stack, 2 done
	var visit func(int)
	visit = func(v int) {
		state[v] = 1
		for _, t := range out[v] {
			switch state[t] {
			case 0:
				visit(t)
			case 1:
				back[[2]int{v, t}] = true
			}
		}
		state[v] = 2
	}
	// Start from the namespace's callers: nodes nothing calls first.
	indeg := make([]int, n)
	for f := range n {
		for _, t := range out[f] {
			indeg[t]++
		}
	}
	starts := make([]int, n)
	for i := range starts {
		starts[i] = i
	}
	slices.SortStableFunc(starts, func(a, b int) int { return cmp.Compare(indeg[a], indeg[b]) })
	for _, v := range starts {
		if state[v] == 0 {
			visit(v)
		}
	}
	return back
}

// order sorts each column by the mean row of each node's neighbours, a few
// sweeps right then left, keeping ties in their current order.
func order(cols [][]int, g *Graph, idx map[string]int) {
	n := len(g.Nodes)
	nbrs := make([][]int, n)
	for _, e := range g.Edges {
		f, t := idx[e.From], idx[e.To]
		if f != t {
			nbrs[f] = append(nbrs[f], t)
			nbrs[t] = append(nbrs[t], f)
		}
	}
	pos := make([]float64, n)
	setPos := func() {
		for _, c := range cols {
			for r, i := range c {
				// Centre columns on one another: rows of a short column
				// sit in the middle of a tall one.
				pos[i] = float64(r) - float64(len(c)-1)/2
			}
		}
	}
	setPos()
	for sweep := range 8 {
		seq := make([]int, len(cols))
		for i := range seq {
			seq[i] = i
		}
		if sweep%2 == 1 {
			slices.Reverse(seq)
		}
		for _, ci := range seq {
			c := cols[ci]
			bary := map[int]float64{}
			for _, i := range c {
				if len(nbrs[i]) == 0 {
					bary[i] = pos[i]
					continue
				}
				sum := 0.0
				for _, j := range nbrs[i] {
					sum += pos[j]
				}
				bary[i] = sum / float64(len(nbrs[i]))
			}
			slices.SortStableFunc(c, func(a, b int) int { return cmp.Compare(bary[a], bary[b]) })
			setPos()
		}
	}
}

// routeEdges draws each edge as a cubic curve: forward edges from the
// right side of the client to the left side of the server, edges to an
// earlier or the same column below the boxes, self-loops on the right.
// Several edges on one side of a box are spread along it. Labels sit at
// the curve's middle, moved off any box or earlier label they would cover.
func routeEdges(g *Graph, idx map[string]int, nodes []box, lay *layout) []edgePlace {
	type end struct{ edge, other int }
	outs := map[int][]end{}
	ins := map[int][]end{}
	for ei, e := range g.Edges {
		f, t := idx[e.From], idx[e.To]
		if f != t && nodes[t].layer > nodes[f].layer {
			outs[f] = append(outs[f], end{ei, t})
			ins[t] = append(ins[t], end{ei, f})
		}
	}
	offset := map[[2]int]float64{} // (edge, 0 start | 1 end) -> y offset
	spread := func(m map[int][]end, side int) {
		for node, ends := range m {
			slices.SortFunc(ends, func(a, b end) int {
				return cmp.Or(cmp.Compare(nodes[a.other].cy(), nodes[b.other].cy()), cmp.Compare(a.edge, b.edge))
			})
			h := nodes[node].H - 12
			for k, e := range ends {
				offset[[2]int{e.edge, side}] = -h/2 + h*(float64(k)+0.5)/float64(len(ends))
			}
		}
	}
	spread(outs, 0)
	spread(ins, 1)

	var taken []rect
	for _, b := range nodes {
		taken = append(taken, rect{b.X - 4, b.Y - 4, b.W + 8, b.H + 8})
	}
	places := make([]edgePlace, len(g.Edges))
	below := 0
	for ei := range g.Edges {
		e := &g.Edges[ei]
		f, t := nodes[idx[e.From]], nodes[idx[e.To]]
		var p [4][2]float64
		switch {
		case idx[e.From] == idx[e.To]:
			x, y := f.X+f.W, f.Y
			p = [4][2]float64{{x, y + 12}, {x + 70, y - 28}, {x + 70, y + f.H + 28}, {x, y + f.H - 12}}
		case t.layer > f.layer:
			x0, y0 := f.X+f.W, f.cy()+offset[[2]int{ei, 0}]
			x1, y1 := t.X, t.cy()+offset[[2]int{ei, 1}]
			dx := (x1 - x0) / 2
			p = [4][2]float64{{x0, y0}, {x0 + dx, y0}, {x1 - dx, y1}, {x1, y1}}
		default:
			below++
			depth := 40 + 14*float64(below%4)
			x0, y0 := f.cx()-10, f.Y+f.H
			x1, y1 := t.cx()+10, t.Y+t.H
			p = [4][2]float64{{x0, y0}, {x0, y0 + depth + 30}, {x1, y1 + depth + 30}, {x1, y1}}
		}
		pl := edgePlace{Path: pathOf(p), Lines: e.Label()}
		lw := 0.0
		for _, l := range pl.Lines {
			lw = max(lw, textWidth(l)*0.9)
		}
		lh := float64(len(pl.Lines))*lineHeight + 6
		mx, my := bezier(p, 0.5)
		r := rect{mx - lw/2 - 5, my - lh/2, lw + 10, lh}
		pl.Label = free(r, taken)
		taken = append(taken, pl.Label)
		places[ei] = pl
		lay.Width = max(lay.Width, pl.Label.X+pl.Label.W+margin, p[1][0]+margin)
		lay.Height = max(lay.Height, pl.Label.Y+pl.Label.H+margin, p[1][1]+margin, p[2][1]+margin)
	}
	return places
}

// free moves r up or down, alternately further, until it covers nothing
// in taken.
func free(r rect, taken []rect) rect {
	for k := 0; k < 24; k++ {
		step := float64((k+1)/2) * (r.H/2 + 3)
		if k%2 == 1 {
			step = -step
		}
		c := r
		c.Y += step
		if c.Y < margin+titleSpace/2 {
			continue
		}
		ok := true
		for _, o := range taken {
			if c.overlaps(o) {
				ok = false
				break
			}
		}
		if ok {
			return c
		}
	}
	return r
}

func bezier(p [4][2]float64, t float64) (float64, float64) {
	u := 1 - t
	a, b, c, d := u*u*u, 3*u*u*t, 3*u*t*t, t*t*t
	return a*p[0][0] + b*p[1][0] + c*p[2][0] + d*p[3][0], a*p[0][1] + b*p[1][1] + c*p[2][1] + d*p[3][1]
}

func pathOf(p [4][2]float64) string {
	return "M" + num(p[0][0]) + "," + num(p[0][1]) + " C" + num(p[1][0]) + "," + num(p[1][1]) + " " +
		num(p[2][0]) + "," + num(p[2][1]) + " " + num(p[3][0]) + "," + num(p[3][1])
}

// num prints a coordinate with one decimal at most.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }
