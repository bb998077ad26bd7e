package correlate

import (
	"runtime"
	"sync"
	"sync/atomic"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
)

// decodedDoc is a document (or List item) decoded, waiting to be added to
// the builder in file order.
type decodedDoc struct {
	ctx *DocumentError
	// err (a *DocumentError) stops the load when the document's turn comes.
	err error
	// obj is the object to add; nil with ignored and list empty: nothing
	// to add (a null document).
	obj k8sruntime.Object
	// ignored describes an object of a kind the auditor does not read.
	ignored string
	// list is the head of a List whose items are decoded next.
	list *head
}

// commit adds a decoded document, in file order.
func (b *snapshotBuilder) commit(dec k8sruntime.Decoder, d decodedDoc) error {
	switch {
	case d.err != nil:
		return d.err
	case d.list != nil:
		return b.list(dec, *d.list, d.ctx)
	case d.ignored != "":
		b.ignored = append(b.ignored, d.ignored)
	case d.obj != nil:
		if err := b.add(d.obj); err != nil {
			d.ctx.Err = err
			return d.ctx
		}
	}
	return nil
}

// parallelMap returns f(0), ..., f(n-1), computed on up to GOMAXPROCS
// goroutines. f must be safe for concurrent use.
func parallelMap[T any](n int, f func(i int) T) []T {
	out := make([]T, n)
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			out[i] = f(i)
		}
		return out
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				out[i] = f(i)
			}
		})
	}
	wg.Wait()
	return out
}
