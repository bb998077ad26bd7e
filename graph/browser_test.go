package graph

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flow-auditor/flow-auditor/internal/browsertest"
)

// TestHTMLRendersInChromium opens the page in headless Chromium: it must
// load without a console message, its DOM must hold every node and edge of
// the graph, and its picture must show each verdict's colour.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	g := build(scenario())
	path := filepath.Join(t.TempDir(), "graph.html")
	var b bytes.Buffer
	if err := WriteHTML(&b, g); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	page := browsertest.Open(t, bin, path)
	if len(page.Console) > 0 {
		t.Errorf("the page logged:\n%s", strings.Join(page.Console, "\n"))
	}
	got, err := ReadDrawn(strings.NewReader(page.DOM))
	if err != nil {
		t.Fatal(err)
	}
	nodes, edges := got.Nodes, got.Edges
	want := g.Drawn()
	if !slices.Equal(nodes, want.Nodes) {
		t.Errorf("DOM nodes:\n%s\nwant:\n%s", strings.Join(nodes, "\n"), strings.Join(want.Nodes, "\n"))
	}
	if !slices.Equal(edges, want.Edges) {
		t.Errorf("DOM edges:\n%s\nwant:\n%s", strings.Join(edges, "\n"), strings.Join(want.Edges, "\n"))
	}
	if got.Rows != len(g.Edges) {
		t.Errorf("the table has %d edge rows, want %d", got.Rows, len(g.Edges))
	}

	img := browsertest.Screenshot(t, bin, path, 1400, 900)
	for _, c := range Classes() {
		if n := CountColor(img, classStyle[c].color); n < 20 {
			t.Errorf("the picture has %d pixels of the %s colour %s, want the edges drawn in it", n, c, classStyle[c].color)
		}
	}
	t.Logf("DOM: %d nodes, %d edges; screenshot %v", len(nodes), len(edges), img.Bounds().Size())
}

// CountColor counts the pixels of img within a small distance of the
// colour hex ("#rrggbb").
func CountColor(img image.Image, hex string) int {
	var want color.RGBA
	if _, err := fmt.Sscanf(hex, "#%02x%02x%02x", &want.R, &want.G, &want.B); err != nil {
		return 0
	}
	near := func(a uint32, b uint8) bool {
		d := int(a>>8) - int(b)
		return d > -24 && d < 24
	}
	n := 0
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if near(cr, want.R) && near(cg, want.G) && near(cb, want.B) {
				n++
			}
		}
	}
	return n
}
