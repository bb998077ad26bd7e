package graph

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"time"
)

// Style of each class: stroke colour and dash pattern.
var classStyle = [...]struct{ color, dash, width string }{
	Allowed:   {"#2e7d32", "", "1.6"},
	Anomalous: {"#ef6c00", "", "2.4"},
	WouldDeny: {"#d32f2f", "7 4", "2.4"},
	Denied:    {"#6a1b9a", "", "2.8"},
}

// Style of each node kind: fill and border.
var kindStyle = map[NodeKind]struct{ fill, stroke, what string }{
	KindWorkload: {"#e3f2fd", "#1565c0", "workload of the namespace"},
	KindPeer:     {"#f1f3f4", "#5f6368", "workload of another namespace"},
	KindNode:     {"#eceff1", "#37474f", "node"},
	KindExternal: {"#fff8e1", "#b26a00", "outside the cluster (by DNS name)"},
}

// classMeaning says what each class means, for the legend.
var classMeaning = [...]string{
	Allowed:   "allowed by policy",
	Anomalous: "anomalous egress: new peer or name, metadata, private range",
	WouldDeny: "would-deny: policy denies it, the network let it through",
	Denied:    "denied: policy denies it and the network dropped it",
}

const fontFamily = `system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif`

// WriteSVG writes the graph as a standalone SVG document.
func WriteSVG(w io.Writer, g *Graph) error {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	svg(&b, g, true)
	_, err := io.WriteString(w, b.String())
	return err
}

// svg writes the <svg> element: edges, then nodes, then edge labels on
// top, then the legend. Every node and edge carries data- attributes
// (id, kind; from, to, verdict, connections, ports) so that tools and
// tests can read the picture back.
func svg(b *strings.Builder, g *Graph, withTitle bool) {
	top := float64(margin)
	if withTitle {
		top += titleSpace
	}
	lay := place(g, top)
	legendTop := lay.Height + 8
	legendText := 0.0
	for _, m := range classMeaning {
		legendText = max(legendText, textWidth(m)*0.92)
	}
	kindsX := 44 + legendText + 36
	width := max(lay.Width, kindsX+300)
	height := legendTop + 4*22 + 16
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="%s" font-size="13" role="img" aria-labelledby="graph-title">`+"\n",
		num(width), num(height), num(width), num(height), esc(fontFamily))
	fmt.Fprintf(b, `<title id="graph-title">%s</title>`+"\n", esc(title(g)))
	b.WriteString("<defs>\n")
	for _, c := range Classes() {
		st := classStyle[c]
		fmt.Fprintf(b, `<marker id="arrow-%s" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>`+"\n", c, st.color)
	}
	b.WriteString("</defs>\n")
	fmt.Fprintf(b, `<rect x="0" y="0" width="%s" height="%s" fill="#ffffff"/>`+"\n", num(width), num(height))
	if withTitle {
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="17" font-weight="600" fill="#202124">%s</text>`+"\n", margin, margin+14, esc(title(g)))
		fmt.Fprintf(b, `<text x="%d" y="%d" font-size="12" fill="#5f6368">%s</text>`+"\n", margin, margin+32, esc(subtitle(g)))
	}

	b.WriteString(`<g class="edges" fill="none">` + "\n")
	for i := range g.Edges {
		e := &g.Edges[i]
		st := classStyle[e.Class]
		fmt.Fprintf(b, `<g class="edge %s" data-from="%s" data-to="%s" data-verdict="%s" data-connections="%d" data-ports="%s">`,
			e.Class, esc(e.From), esc(e.To), e.Class, e.Conns, esc(portList(e)))
		fmt.Fprintf(b, `<title>%s</title>`, esc(edgeTitle(g, e)))
		fmt.Fprintf(b, `<path d="%s" stroke="%s" stroke-width="%s"`, lay.Edges[i].Path, st.color, st.width)
		if st.dash != "" {
			fmt.Fprintf(b, ` stroke-dasharray="%s"`, st.dash)
		}
		fmt.Fprintf(b, ` marker-end="url(#arrow-%s)"/></g>`+"\n", e.Class)
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g class="nodes">` + "\n")
	for i := range g.Nodes {
		nd := &g.Nodes[i]
		bx := lay.Nodes[i]
		st := kindStyle[nd.Kind]
		rx := "8"
		if nd.Kind == KindExternal {
			rx = "22"
		}
		fmt.Fprintf(b, `<g class="node %s" data-id="%s" data-kind="%s" transform="translate(%s,%s)">`, nd.Kind, esc(nd.ID), nd.Kind, num(bx.X), num(bx.Y))
		fmt.Fprintf(b, `<title>%s</title>`, esc(nd.ID))
		fmt.Fprintf(b, `<rect width="%s" height="%s" rx="%s" fill="%s" stroke="%s" stroke-width="1.5"/>`, num(bx.W), num(bx.H), rx, st.fill, st.stroke)
		fmt.Fprintf(b, `<text class="label" x="%s" y="20" text-anchor="middle" font-weight="600" fill="#202124">%s</text>`, num(bx.W/2), esc(nd.Label))
		fmt.Fprintf(b, `<text class="detail" x="%s" y="36" text-anchor="middle" font-size="11" fill="#5f6368">%s</text>`, num(bx.W/2), esc(nd.Detail))
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n")

	b.WriteString(`<g class="edge-labels">` + "\n")
	for i := range g.Edges {
		e := &g.Edges[i]
		pl := lay.Edges[i]
		st := classStyle[e.Class]
		fmt.Fprintf(b, `<g class="edge-label" data-from="%s" data-to="%s">`, esc(e.From), esc(e.To))
		fmt.Fprintf(b, `<rect x="%s" y="%s" width="%s" height="%s" rx="3" fill="#ffffff" fill-opacity="0.92" stroke="%s" stroke-width="0.8"/>`,
			num(pl.Label.X), num(pl.Label.Y), num(pl.Label.W), num(pl.Label.H), st.color)
		for k, line := range pl.Lines {
			fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="middle" font-size="11.5" fill="%s">%s</text>`,
				num(pl.Label.X+pl.Label.W/2), num(pl.Label.Y+3+lineHeight*float64(k+1)-3), st.color, esc(line))
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</g>\n")

	fmt.Fprintf(b, `<g class="legend" transform="translate(%d,%s)" font-size="12">`+"\n", margin, num(legendTop))
	for k, c := range Classes() {
		st := classStyle[c]
		y := k*22 + 10
		fmt.Fprintf(b, `<line x1="0" y1="%d" x2="34" y2="%d" stroke="%s" stroke-width="%s"`, y, y, st.color, st.width)
		if st.dash != "" {
			fmt.Fprintf(b, ` stroke-dasharray="%s"`, st.dash)
		}
		fmt.Fprintf(b, ` marker-end="url(#arrow-%s)"/><text x="44" y="%d" fill="#202124">%s</text>`+"\n", c, y+4, esc(classMeaning[c]))
	}
	x := int(kindsX)
	for k, kind := range []NodeKind{KindWorkload, KindPeer, KindExternal} {
		st := kindStyle[kind]
		y := k * 22
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="26" height="16" rx="4" fill="%s" stroke="%s"/><text x="%d" y="%d" fill="#202124">%s</text>`+"\n",
			x, y+2, st.fill, st.stroke, x+34, y+14, esc(st.what))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#5f6368">edge labels: protocol/port ×connections</text>`+"\n", x, 3*22+14)
	b.WriteString("</g>\n</svg>\n")
}

func title(g *Graph) string { return "Communication graph of namespace " + g.Namespace }

func subtitle(g *Graph) string {
	n := g.Count()
	total := n[0] + n[1] + n[2] + n[3]
	s := fmt.Sprintf("%d connections: %d allowed, %d anomalous, %d would-deny, %d denied", total, n[Allowed], n[Anomalous], n[WouldDeny], n[Denied])
	if !g.Start.IsZero() {
		s += "; " + g.Start.UTC().Format(time.RFC3339) + " to " + g.End.UTC().Format(time.RFC3339)
	}
	return s
}

func portList(e *Edge) string {
	names := make([]string, len(e.Ports))
	for i, p := range e.Ports {
		names[i] = p.Name()
	}
	return strings.Join(names, " ")
}

func edgeTitle(g *Graph, e *Edge) string {
	var b strings.Builder
	b.WriteString(nodeName(g, e.From) + " → " + nodeName(g, e.To) + "\n")
	for _, p := range e.Ports {
		b.WriteString(p.Name() + ": " + strconv.Itoa(p.Total()) + " connections")
		for _, c := range Classes() {
			if p.Conns[c] > 0 && (c != Allowed || p.Conns[c] != p.Total()) {
				b.WriteString(", " + strconv.Itoa(p.Conns[c]) + " " + c.String())
			}
		}
		b.WriteString("\n")
	}
	if e.Explanation != "" {
		b.WriteString(e.Explanation)
	}
	return strings.TrimRight(b.String(), "\n")
}

func nodeName(g *Graph, id string) string {
	if n := g.Node(id); n != nil {
		if n.Kind == KindWorkload || n.Kind == KindPeer {
			return n.Namespace + "/" + n.Label
		}
		return n.Label
	}
	return id
}

// esc escapes text for XML and HTML content and attributes.
func esc(s string) string { return html.EscapeString(s) }
