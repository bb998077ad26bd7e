package graph

import (
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
)

// Drawn is what a rendered picture says, read back from the data
// attributes of its SVG (inline in the HTML page, or standalone).
type Drawn struct {
	// Nodes are the node IDs, in document order.
	Nodes []string
	// Edges are "from -> to verdict connections ports" (ports separated
	// by spaces), in document order.
	Edges []string
	// Rows counts the edge rows of the HTML page's table.
	Rows int
}

// ReadDrawn parses a page or SVG the way a browser does (HTML parsing
// rules) and returns the graph it draws: what tools and tests compare with
// the flows.
func ReadDrawn(r io.Reader) (*Drawn, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("parse the page: %w", err)
	}
	d := &Drawn{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			a := make(map[string]string, len(n.Attr))
			for _, at := range n.Attr {
				a[at.Key] = at.Val
			}
			switch {
			case n.Data == "g" && strings.HasPrefix(a["class"], "node "):
				d.Nodes = append(d.Nodes, a["data-id"])
			case n.Data == "g" && strings.HasPrefix(a["class"], "edge "):
				d.Edges = append(d.Edges, fmt.Sprintf("%s -> %s %s %s %s", a["data-from"], a["data-to"], a["data-verdict"], a["data-connections"], a["data-ports"]))
			case n.Data == "tr" && a["data-from"] != "":
				d.Rows++
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return d, nil
}

// Drawn returns what the graph's picture must say, for comparison with
// ReadDrawn.
func (g *Graph) Drawn() *Drawn {
	d := &Drawn{Rows: len(g.Edges)}
	for _, n := range g.Nodes {
		d.Nodes = append(d.Nodes, n.ID)
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		d.Edges = append(d.Edges, fmt.Sprintf("%s -> %s %s %d %s", e.From, e.To, e.Class, e.Conns, portList(e)))
	}
	return d
}
