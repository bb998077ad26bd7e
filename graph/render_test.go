package graph

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/flow-auditor/flow-auditor/flow"
)

// svgGraph reads back what an SVG says: node IDs and edges as
// "from -> to verdict connections ports".
func svgGraph(t *testing.T, doc []byte) (nodes, edges []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "g" {
			continue
		}
		a := map[string]string{}
		for _, at := range se.Attr {
			a[at.Name.Local] = at.Value
		}
		switch {
		case strings.HasPrefix(a["class"], "node "):
			nodes = append(nodes, a["data-id"])
		case strings.HasPrefix(a["class"], "edge "):
			edges = append(edges, fmt.Sprintf("%s -> %s %s %s %s", a["data-from"], a["data-to"], a["data-verdict"], a["data-connections"], a["data-ports"]))
		}
	}
	return nodes, edges
}

func TestSVGCarriesEveryNodeAndEdge(t *testing.T) {
	g := build(scenario())
	var b bytes.Buffer
	if err := WriteSVG(&b, g); err != nil {
		t.Fatal(err)
	}
	nodes, edges := svgGraph(t, b.Bytes())
	want := g.Drawn()
	if !slices.Equal(nodes, want.Nodes) || !slices.Equal(edges, want.Edges) {
		t.Errorf("SVG nodes %v\nedges %v\nwant %v\n%v", nodes, edges, want.Nodes, want.Edges)
	}
	if len(edges) != 12 {
		t.Errorf("%d edges, want the scenario's 12", len(edges))
	}
	// The SVG namespace is the only URL: nothing to fetch at view time.
	if n, m := strings.Count(b.String(), "http://"), strings.Count(b.String(), "https://"); n != 1 || m != 0 {
		t.Errorf("the SVG names %d http and %d https URLs, want only its namespace: it must show offline", n, m)
	}
}

func TestHTMLIsSelfContained(t *testing.T) {
	g := build(scenario())
	var b bytes.Buffer
	if err := WriteHTML(&b, g); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, banned := range []string{"<script", "<link", "<img", "@import", "url(http"} {
		if strings.Contains(page, banned) {
			t.Errorf("the page contains %q: it must need nothing from the network", banned)
		}
	}
	if n := strings.Count(page, "<tr class="); n != len(g.Edges) {
		t.Errorf("the table has %d edge rows, want %d", n, len(g.Edges))
	}
}

// TestLayoutKeepsEverythingReadable checks what a reader of the picture
// needs: no two boxes overlap, no edge label covers a box or another
// label, and everything lies inside the picture.
func TestLayoutKeepsEverythingReadable(t *testing.T) {
	g := build(scenario())
	lay := place(g, margin)
	var boxes []rect
	for _, b := range lay.Nodes {
		boxes = append(boxes, rect{b.X, b.Y, b.W, b.H})
	}
	for i := range boxes {
		for j := range i {
			if boxes[i].overlaps(boxes[j]) {
				t.Errorf("boxes of %s and %s overlap", g.Nodes[i].ID, g.Nodes[j].ID)
			}
		}
	}
	for i, e := range lay.Edges {
		for j, b := range boxes {
			if e.Label.overlaps(b) {
				t.Errorf("the label of %s -> %s covers %s", g.Edges[i].From, g.Edges[i].To, g.Nodes[j].ID)
			}
		}
		for k := range i {
			if e.Label.overlaps(lay.Edges[k].Label) {
				t.Errorf("the labels of edges %d and %d overlap", k, i)
			}
		}
	}
	for _, r := range append(boxes, labels(lay)...) {
		if r.X < 0 || r.Y < 0 || r.X+r.W > lay.Width || r.Y+r.H > lay.Height {
			t.Errorf("%+v lies outside the %vx%v picture", r, lay.Width, lay.Height)
		}
	}
	// Outside peers sit in the last column, right of every workload.
	var rightmostWorkload, leftmostExternal float64 = 0, 1e9
	for i, n := range g.Nodes {
		if n.Kind == KindExternal {
			leftmostExternal = min(leftmostExternal, lay.Nodes[i].X)
		} else {
			rightmostWorkload = max(rightmostWorkload, lay.Nodes[i].X)
		}
	}
	if leftmostExternal <= rightmostWorkload {
		t.Errorf("outside peers start at x=%v, left of a workload at x=%v", leftmostExternal, rightmostWorkload)
	}
}

func labels(lay layout) []rect {
	var out []rect
	for _, e := range lay.Edges {
		out = append(out, e.Label)
	}
	return out
}

func TestOutputDoesNotDependOnRecordOrder(t *testing.T) {
	recs := scenario()
	want := map[string][]byte{}
	for _, f := range []string{FormatDOT, FormatMermaid, FormatSVG, FormatHTML} {
		var b bytes.Buffer
		if err := Write(&b, build(recs), f); err != nil {
			t.Fatal(err)
		}
		want[f] = b.Bytes()
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		shuffled := slices.Clone(recs)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for f, w := range want {
			var b bytes.Buffer
			if err := Write(&b, build(shuffled), f); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), w) {
				t.Fatalf("%s output changed with the order of the records", f)
			}
		}
	}
}

func TestDOTAndMermaidNameEveryEdge(t *testing.T) {
	g := build(scenario())
	var dot, mmd bytes.Buffer
	if err := WriteDOT(&dot, g); err != nil {
		t.Fatal(err)
	}
	if err := WriteMermaid(&mmd, g); err != nil {
		t.Fatal(err)
	}
	for i, e := range g.Edges {
		line := fmt.Sprintf("%q -> %q [label=%q", e.From, e.To, strings.Join(e.Label(), "\n")+"\n"+e.Class.String())
		if !strings.Contains(dot.String(), line) {
			t.Errorf("DOT lacks %s", line)
		}
		style := fmt.Sprintf("linkStyle %d stroke:%s", i, classStyle[e.Class].color)
		if !strings.Contains(mmd.String(), style) {
			t.Errorf("Mermaid lacks %s", style)
		}
	}
	if n := strings.Count(dot.String(), "style=dashed"); n != 1 {
		t.Errorf("%d dashed edges in DOT, want 1 (the would-deny one to 10.20.30.40)", n)
	}
	if err := Write(io.Discard, g, "png"); err == nil {
		t.Error("an unknown format was accepted")
	}
}

func TestClassOf(t *testing.T) {
	for _, c := range []struct {
		rec  flow.Record
		want Class
	}{
		{flow.Record{Violation: "denied"}, Denied},
		{flow.Record{Violation: "would-deny"}, WouldDeny},
		{flow.Record{Violation: "anomalous-egress", Verdict: "allow"}, Anomalous},
		{flow.Record{Verdict: "allow"}, Allowed},
		{flow.Record{Verdict: "deny", Observed: flow.Dropped}, Denied}, // a source's own verdict
		{flow.Record{Verdict: "deny", Observed: flow.Forwarded}, WouldDeny},
		{flow.Record{}, Allowed},
	} {
		if got := ClassOf(&c.rec); got != c.want {
			t.Errorf("ClassOf(%+v) = %s, want %s", c.rec, got, c.want)
		}
	}
}
