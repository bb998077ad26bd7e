package graph

import (
	"fmt"
	"io"
	"strings"
)

// WriteHTML writes the graph as one self-contained HTML page: the SVG
// picture inline, then a table of every edge with its ports, connection
// counts, verdict and explanation. No script, font or image is loaded:
// the page shows the same offline.
func WriteHTML(w io.Writer, g *Graph) error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString(`<meta name="viewport" content="width=device-width, initial-scale=1">` + "\n")
	fmt.Fprintf(&b, "<title>%s</title>\n", esc(title(g)))
	b.WriteString("<style>\n")
	fmt.Fprintf(&b, "body{font-family:%s;margin:24px;color:#202124;background:#fafafa}\n", fontFamily)
	b.WriteString(`h1{font-size:20px;margin:0 0 4px}
p.sub{color:#5f6368;margin:0 0 16px}
figure{margin:0 0 24px;overflow:auto;background:#fff;border:1px solid #dadce0;border-radius:8px}
figure svg{display:block;max-width:100%;height:auto}
table{border-collapse:collapse;background:#fff;font-size:13px}
th,td{border:1px solid #dadce0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f4}
td.n{text-align:right}
td.verdict{font-weight:600;white-space:nowrap}
`)
	for _, c := range Classes() {
		fmt.Fprintf(&b, "tr.%s td.verdict{color:%s}\n", c, classStyle[c].color)
	}
	b.WriteString("</style>\n</head>\n<body>\n")
	fmt.Fprintf(&b, "<h1>%s</h1>\n<p class=\"sub\">%s</p>\n", esc(title(g)), esc(subtitle(g)))
	b.WriteString("<figure>\n")
	svg(&b, g, false)
	b.WriteString("</figure>\n")
	b.WriteString(`<table class="edges">` + "\n<thead><tr><th>from</th><th>to</th><th>ports</th><th>connections</th><th>verdict</th><th>explanation</th></tr></thead>\n<tbody>\n")
	for i := range g.Edges {
		e := &g.Edges[i]
		fmt.Fprintf(&b, `<tr class="%s" data-from="%s" data-to="%s"><td>%s</td><td>%s</td><td>%s</td><td class="n">%d</td><td class="verdict">%s</td><td>%s</td></tr>`+"\n",
			e.Class, esc(e.From), esc(e.To), esc(nodeName(g, e.From)), esc(nodeName(g, e.To)),
			esc(strings.Join(e.Label(), ", ")), e.Conns, e.Class, esc(e.Explanation))
	}
	b.WriteString("</tbody>\n</table>\n</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
