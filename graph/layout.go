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
	nodePitch  = 92 // a node's share of its column's height
	dummyPitch = 30 // an edge passing through a column
	columnGap  = 190
	minWidth   = 150
	charWidth  = 7.4 // average width of a 13px sans-serif character
	lineHeight = 15
	titleSpace = 44 // above the graph: the title lines
)

// box is a node's place.
type box struct {
	X, Y, W, H float64
	layer      int
}

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
	// Top is where the graph starts below the title.
	Top float64
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

// slot is one place in a column: a node, or an edge passing through.
type slot struct {
	node int // index in Graph.Nodes, or -1 for an edge passing through
	edge int
	y    float64 // centre
}

// place lays the graph out left to right (a simple Sugiyama layout): a
// node's column is the longest path to it from a node nothing calls
// (cycles broken where a depth-first walk finds them), outside peers in a
// last column of their own; an edge spanning several columns passes
// through each on a slot of its own; within a column, slots are ordered by
// the mean position of their neighbours, sweeping right and left a few
// times.
func place(g *Graph, top float64) layout {
	n := len(g.Nodes)
	idx := make(map[string]int, n)
	for i, nd := range g.Nodes {
		idx[nd.ID] = i
	}
	layer := layers(g, idx)
	maxLayer := 0
	for _, l := range layer {
		maxLayer = max(maxLayer, l)
	}

	slots := make([]slot, n)
	for i := range slots {
		slots[i] = slot{node: i, edge: -1}
	}
	cols := make([][]int, maxLayer+1)
	for i := range n {
		cols[layer[i]] = append(cols[layer[i]], i)
	}
	// chain[e] lists the slots edge e passes through, source to target.
	chain := make([][]int, len(g.Edges))
	var links [][2]int
	for ei, e := range g.Edges {
		f, t := idx[e.From], idx[e.To]
		if f == t || layer[t] <= layer[f] {
			continue
		}
		prev := f
		for l := layer[f] + 1; l < layer[t]; l++ {
			s := len(slots)
			slots = append(slots, slot{node: -1, edge: ei})
			cols[l] = append(cols[l], s)
			chain[ei] = append(chain[ei], s)
			links = append(links, [2]int{prev, s})
			prev = s
		}
		links = append(links, [2]int{prev, t})
	}
	for _, c := range cols {
		slices.SortStableFunc(c, func(a, b int) int { return compareSlots(g, slots, a, b) })
	}
	order(cols, len(slots), links)

	lay := layout{Nodes: make([]box, n), Top: top}
	height := 0.0
	for _, c := range cols {
		height = max(height, columnHeight(slots, c))
	}
	x := float64(margin)
	colX := make([]float64, len(cols))
	colW := make([]float64, len(cols))
	for li, c := range cols {
		w := float64(minWidth)
		for _, s := range c {
			if i := slots[s].node; i >= 0 {
				w = max(w, textWidth(g.Nodes[i].Label)+28, textWidth(g.Nodes[i].Detail)*0.85+28)
			}
		}
		y := top + (height-columnHeight(slots, c))/2
		for _, s := range c {
			p := pitch(slots[s])
			slots[s].y = y + p/2
			if i := slots[s].node; i >= 0 {
				lay.Nodes[i] = box{X: x, Y: slots[s].y - nodeHeight/2, W: w, H: nodeHeight, layer: li}
			}
			y += p
		}
		colX[li], colW[li] = x, w
		x += w + columnGap
	}
	lay.Width = x - columnGap + margin
	lay.Height = top + height
	lay.Edges = routeEdges(g, idx, lay.Nodes, slots, chain, colX, colW, &lay)
	return lay
}

func pitch(s slot) float64 {
	if s.node < 0 {
		return dummyPitch
	}
	return nodePitch
}

func columnHeight(slots []slot, c []int) float64 {
	h := 0.0
	for _, s := range c {
		h += pitch(slots[s])
	}
	return h
}

// compareSlots is a column's initial order: nodes by kind and name, edges
// passing through after them.
func compareSlots(g *Graph, slots []slot, a, b int) int {
	sa, sb := slots[a], slots[b]
	if (sa.node < 0) != (sb.node < 0) {
		if sa.node < 0 {
			return 1
		}
		return -1
	}
	if sa.node < 0 {
		return cmp.Compare(sa.edge, sb.edge)
	}
	na, nb := &g.Nodes[sa.node], &g.Nodes[sb.node]
	return cmp.Or(cmp.Compare(kindRank(na.Kind), kindRank(nb.Kind)), cmp.Compare(na.Label, nb.Label), cmp.Compare(na.ID, nb.ID))
}

// layers assigns each node its column.
func layers(g *Graph, idx map[string]int) []int {
	n := len(g.Nodes)
	out := make([][]int, n)
	for _, e := range g.Edges {
		if f, t := idx[e.From], idx[e.To]; f != t {
			out[f] = append(out[f], t)
		}
	}
	back := backEdges(n, out)
	layer := make([]int, n)
	// Longest path over the forward edges (acyclic): n rounds at most.
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
	if slices.ContainsFunc(g.Nodes, func(nd Node) bool { return nd.Kind == KindExternal }) {
		// Outside peers get a column of their own, on the right.
		last := 0
		for i, nd := range g.Nodes {
			if nd.Kind != KindExternal {
				last = max(last, layer[i])
			}
		}
		for i, nd := range g.Nodes {
			if nd.Kind == KindExternal {
				layer[i] = last + 1
			}
		}
	}
	return layer
}

// backEdges returns the edges a depth-first walk finds going back to a node
// on its stack: without them the graph is acyclic. The walk starts from the
// nodes with the fewest callers.
func backEdges(n int, out [][]int) map[[2]int]bool {
	back := map[[2]int]bool{}
	state := make([]uint8, n) // 0 new, 1 on the stack, 2 done
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

// order sorts each column by the mean position of each slot's neighbours,
// eight sweeps alternately right and left, ties keeping their order.
func order(cols [][]int, nslots int, links [][2]int) {
	nbrs := make([][]int, nslots)
	for _, l := range links {
		nbrs[l[0]] = append(nbrs[l[0]], l[1])
		nbrs[l[1]] = append(nbrs[l[1]], l[0])
	}
	pos := make([]float64, nslots)
	setPos := func() {
		for _, c := range cols {
			for r, s := range c {
				// Columns are centred on one another.
				pos[s] = float64(r) - float64(len(c)-1)/2
			}
		}
	}
	setPos()
	for sweep := range 8 {
		for k := range cols {
			ci := k
			if sweep%2 == 1 {
				ci = len(cols) - 1 - k
			}
			c := cols[ci]
			bary := make(map[int]float64, len(c))
			for _, s := range c {
				if len(nbrs[s]) == 0 {
					bary[s] = pos[s]
					continue
				}
				sum := 0.0
				for _, t := range nbrs[s] {
					sum += pos[t]
				}
				bary[s] = sum / float64(len(nbrs[s]))
			}
			slices.SortStableFunc(c, func(a, b int) int { return cmp.Compare(bary[a], bary[b]) })
			setPos()
		}
	}
}

// routeEdges draws each edge: a forward edge leaves the right side of its
// client, crosses each column between on its own slot, and enters the left
// side of its server, as curves with horizontal tangents between columns;
// an edge to an earlier or the same column runs below the boxes; a
// self-loop sits on top of its box. Several edges on one side of a box are
// spread along it. A label sits in the gap before the server, moved off
// any box or earlier label it would cover.
func routeEdges(g *Graph, idx map[string]int, nodes []box, slots []slot, chain [][]int, colX, colW []float64, lay *layout) []edgePlace {
	type end struct {
		edge int
		y    float64 // where the edge's other end is
	}
	outs := map[int][]end{}
	ins := map[int][]end{}
	for ei, e := range g.Edges {
		f, t := idx[e.From], idx[e.To]
		if f == t || nodes[t].layer <= nodes[f].layer {
			continue
		}
		first, last := nodes[t].cy(), nodes[f].cy()
		if c := chain[ei]; len(c) > 0 {
			first, last = slots[c[0]].y, slots[c[len(c)-1]].y
		}
		outs[f] = append(outs[f], end{ei, first})
		ins[t] = append(ins[t], end{ei, last})
	}
	offset := map[[2]int]float64{} // (edge, 0 at the client | 1 at the server)
	spread := func(m map[int][]end, side int) {
		for node, ends := range m {
			slices.SortFunc(ends, func(a, b end) int { return cmp.Or(cmp.Compare(a.y, b.y), cmp.Compare(a.edge, b.edge)) })
			h := nodes[node].H - 14
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
		fi, ti := idx[e.From], idx[e.To]
		f, t := nodes[fi], nodes[ti]
		pl := edgePlace{Lines: e.Label()}
		var mid [2]float64 // the label's anchor
		var extent [2]float64
		switch {
		case fi == ti:
			x0, x1, y := f.X+f.W*0.35, f.X+f.W*0.65, f.Y
			pl.Path = "M" + num(x0) + "," + num(y) + " C" + num(x0-20) + "," + num(y-58) + " " + num(x1+20) + "," + num(y-58) + " " + num(x1) + "," + num(y)
			mid = [2]float64{f.X + f.W/2, y - 62}
		case t.layer > f.layer:
			pts := [][2]float64{{f.X + f.W, f.cy() + offset[[2]int{ei, 0}]}}
			for k, s := range chain[ei] {
				l := f.layer + 1 + k
				pts = append(pts, [2]float64{colX[l], slots[s].y}, [2]float64{colX[l] + colW[l], slots[s].y})
			}
			pts = append(pts, [2]float64{t.X, t.cy() + offset[[2]int{ei, 1}]})
			pl.Path = "M" + num(pts[0][0]) + "," + num(pts[0][1])
			for k := 1; k < len(pts); k++ {
				a, b := pts[k-1], pts[k]
				if k%2 == 0 { // across a column: straight
					pl.Path += " L" + num(b[0]) + "," + num(b[1])
					continue
				}
				dx := (b[0] - a[0]) / 2
				pl.Path += " C" + num(a[0]+dx) + "," + num(a[1]) + " " + num(b[0]-dx) + "," + num(b[1]) + " " + num(b[0]) + "," + num(b[1])
			}
			a, b := pts[len(pts)-2], pts[len(pts)-1]
			mid = [2]float64{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2}
		default:
			below++
			depth := 46 + 16*float64(below%4)
			x0, y0 := f.X+f.W/2-10, f.Y+f.H
			x1, y1 := t.X+t.W/2+10, t.Y+t.H
			low := max(y0, y1) + depth
			pl.Path = "M" + num(x0) + "," + num(y0) + " C" + num(x0) + "," + num(low+20) + " " + num(x1) + "," + num(low+20) + " " + num(x1) + "," + num(y1)
			mid = [2]float64{(x0 + x1) / 2, low + 5}
			extent = [2]float64{0, low + 20}
		}
		lw := 0.0
		for _, l := range pl.Lines {
			lw = max(lw, textWidth(l)*0.9)
		}
		lh := float64(len(pl.Lines))*lineHeight + 6
		pl.Label = free(rect{mid[0] - lw/2 - 5, mid[1] - lh/2, lw + 10, lh}, taken, lay.Top)
		taken = append(taken, pl.Label)
		places[ei] = pl
		lay.Width = max(lay.Width, pl.Label.X+pl.Label.W+margin)
		lay.Height = max(lay.Height, pl.Label.Y+pl.Label.H+margin, extent[1]+margin)
	}
	return places
}

// free moves r up or down, alternately further, until it covers nothing
// in taken (staying below top).
func free(r rect, taken []rect, top float64) rect {
	for k := 0; k < 30; k++ {
		step := float64((k+1)/2) * (r.H/2 + 3)
		if k%2 == 1 {
			step = -step
		}
		c := r
		c.Y += step
		if c.Y < top-20 {
			continue
		}
		if !slices.ContainsFunc(taken, c.overlaps) {
			return c
		}
	}
	return r
}

// num prints a coordinate with one decimal at most.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }
