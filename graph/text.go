package graph

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteDOT writes the graph in Graphviz's DOT language (`dot -Tsvg`).
func WriteDOT(w io.Writer, g *Graph) error {
	var b strings.Builder
	fmt.Fprintf(&b, "// %s\n// %s\n", title(g), subtitle(g))
	fmt.Fprintf(&b, "digraph %s {\n", strconv.Quote(g.Namespace))
	b.WriteString("  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\", fontsize=11];\n  edge [fontname=\"sans-serif\", fontsize=10];\n")
	for _, n := range g.Nodes {
		st := kindStyle[n.Kind]
		shape := "box"
		if n.Kind == KindExternal {
			shape = "ellipse"
		}
		fmt.Fprintf(&b, "  %s [label=%s, shape=%s, fillcolor=%q, color=%q];\n",
			strconv.Quote(n.ID), strconv.Quote(n.Label+"\n"+n.Detail), shape, st.fill, st.stroke)
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		st := classStyle[e.Class]
		style := "solid"
		if st.dash != "" {
			style = "dashed"
		}
		fmt.Fprintf(&b, "  %s -> %s [label=%s, color=%q, fontcolor=%q, style=%s, penwidth=%s, tooltip=%s];\n",
			strconv.Quote(e.From), strconv.Quote(e.To), strconv.Quote(strings.Join(e.Label(), "\n")+"\n"+e.Class.String()),
			st.color, st.color, style, st.width, strconv.Quote(e.Explanation))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMermaid writes the graph as a Mermaid flowchart (GitHub renders
// it in Markdown inside a ```mermaid block).
func WriteMermaid(w io.Writer, g *Graph) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%%%% %s\n%%%% %s\nflowchart LR\n", title(g), subtitle(g))
	ids := map[string]string{}
	for i, n := range g.Nodes {
		id := "n" + strconv.Itoa(i)
		ids[n.ID] = id
		open, shut := "[", "]"
		if n.Kind == KindExternal {
			open, shut = "([", "])"
		}
		fmt.Fprintf(&b, "  %s%s\"%s<br/><small>%s</small>\"%s:::%s\n", id, open, mermaidText(n.Label), mermaidText(n.Detail), shut, n.Kind)
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		arrow := "-->"
		if classStyle[e.Class].dash != "" {
			arrow = "-.->"
		}
		fmt.Fprintf(&b, "  %s %s|\"%s\"| %s\n", ids[e.From], arrow, mermaidText(strings.Join(e.Label(), "<br/>")+"<br/>"+e.Class.String()), ids[e.To])
	}
	for i := range g.Edges {
		st := classStyle[g.Edges[i].Class]
		fmt.Fprintf(&b, "  linkStyle %d stroke:%s,stroke-width:%spx,color:%s\n", i, st.color, st.width, st.color)
	}
	for _, k := range []NodeKind{KindWorkload, KindPeer, KindNode, KindExternal} {
		st := kindStyle[k]
		fmt.Fprintf(&b, "  classDef %s fill:%s,stroke:%s\n", k, st.fill, st.stroke)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidText keeps a label inside its quotes.
func mermaidText(s string) string { return strings.ReplaceAll(s, `"`, "#quot;") }

// Formats the writers support.
const (
	FormatDOT     = "dot"
	FormatMermaid = "mermaid"
	FormatSVG     = "svg"
	FormatHTML    = "html"
)

// Write writes g in format.
func Write(w io.Writer, g *Graph, format string) error {
	switch format {
	case FormatDOT:
		return WriteDOT(w, g)
	case FormatMermaid:
		return WriteMermaid(w, g)
	case FormatSVG:
		return WriteSVG(w, g)
	case FormatHTML:
		return WriteHTML(w, g)
	}
	return fmt.Errorf("graph format %q: want dot, mermaid, svg or html", format)
}
