package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/flow-auditor/flow-auditor/flow"
)

// Input is one flow file to read.
type Input struct {
	// Name is what errors call the file (its path, or "-" for stdin).
	Name string
	R    io.Reader
}

// Batch is a run of consecutive lines of one file, parsed. Batches are
// recycled: Process and Emit must not keep one, or its slices, after they
// return.
type Batch[T any] struct {
	// File is the input's name.
	File string
	// Records are the batch's flows, in file order; Lines[i] is the line
	// number of Records[i].
	Records []flow.Record
	Lines   []int
	// Skipped counts the batch's lines with nothing to audit.
	Skipped Skipped
	// Data is the caller's: Process fills it, Emit reads it. It survives
	// recycling so that its buffers can be reused.
	Data T

	raw       []byte
	firstLine int
	err       error
	done      chan struct{}
}

// Options tune Run. Zero values choose defaults.
type Options struct {
	// Workers parse and process batches; default GOMAXPROCS.
	Workers int
	// ChunkSize is the bytes of input per batch; default 256 KiB.
	ChunkSize int
}

// Run reads the inputs in order, splits them into batches of whole lines,
// parses and processes the batches on several goroutines, and hands them to
// emit one at a time in input order. process runs concurrently (worker
// identifies the goroutine, from 0 to Workers-1, so that callers can keep
// per-worker state); emit runs on the caller's goroutine. Run stops at the
// first error in input order: a *LineError for a bad line, or an error
// from reading, process or emit.
func Run[T any](ctx context.Context, inputs []Input, opt Options, process func(worker int, b *Batch[T]) error, emit func(b *Batch[T]) error) error {
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 256 << 10
	}
	ctx, cancel := context.WithCancel(ctx)

	// n batches circulate: the reader takes free ones, workers fill them,
	// the emitter returns them. Channels of capacity n never block a send,
	// so only the free list applies back-pressure.
	n := opt.Workers * 4
	free := make(chan *Batch[T], n)
	for range n {
		free <- &Batch[T]{done: make(chan struct{}, 1)}
	}
	work := make(chan *Batch[T], n)
	order := make(chan *Batch[T], n)

	var wg sync.WaitGroup
	// Nothing outlives Run: on an early return, cancel stops the reader,
	// which closes work, which ends the workers.
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { readInputs(ctx, inputs, opt.ChunkSize, free, work, order) })
	for w := range opt.Workers {
		wg.Go(func() {
			p := NewParser()
			for b := range work {
				if b.err == nil {
					b.err = parseBatch(p, b)
				}
				if b.err == nil {
					b.err = process(w, b)
				}
				b.done <- struct{}{}
			}
		})
	}

	for b := range order {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if b.err != nil {
			return b.err
		}
		if err := emit(b); err != nil {
			return err
		}
		free <- b
	}
	return ctx.Err()
}

// readInputs cuts the inputs into batches of whole lines and queues them.
// A read error travels as a batch of its own, so that it surfaces in input
// order.
func readInputs[T any](ctx context.Context, inputs []Input, chunk int, free <-chan *Batch[T], work, order chan<- *Batch[T]) {
	defer close(order)
	defer close(work)
	var carry []byte // a partial last line, moved to the next batch
	for _, in := range inputs {
		line := 1
		eof := false
		for !eof {
			var b *Batch[T]
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}
			b.File, b.firstLine, b.err = in.Name, line, nil
			b.raw = append(b.raw[:0], carry...)
			carry = carry[:0]
			var err error
			b.raw, eof, err = fill(in.R, b.raw, chunk)
			if err != nil {
				b.err = fmt.Errorf("read %s: %w", in.Name, err)
			} else if !eof {
				cut := bytes.LastIndexByte(b.raw, '\n') + 1
				carry = append(carry, b.raw[cut:]...)
				b.raw = b.raw[:cut]
				if len(carry) > MaxLineSize {
					b.err = &LineError{File: in.Name, Line: line + bytes.Count(b.raw, nl), Err: fmt.Errorf("line longer than %d bytes", MaxLineSize)}
				}
			}
			line += bytes.Count(b.raw, nl)
			failed := b.err != nil // b belongs to the workers once sent
			order <- b
			work <- b
			if failed {
				return
			}
		}
	}
}

var nl = []byte{'\n'}

// fill reads into buf until it holds at least chunk bytes and a newline,
// or the input ends.
func fill(r io.Reader, buf []byte, chunk int) ([]byte, bool, error) {
	for {
		if len(buf) >= chunk && bytes.IndexByte(buf, '\n') >= 0 {
			return buf, false, nil
		}
		if len(buf) > MaxLineSize+chunk {
			return buf, false, nil // the caller reports the long line
		}
		if cap(buf)-len(buf) < chunk/2 {
			buf = append(buf, make([]byte, chunk)...)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, true, nil
		}
		if err != nil {
			return buf, false, err
		}
	}
}

// parseBatch parses the batch's lines into its records.
func parseBatch[T any](p *Parser, b *Batch[T]) error {
	b.Records, b.Lines, b.Skipped = b.Records[:0], b.Lines[:0], Skipped{}
	rest := b.raw
	for line := b.firstLine; len(rest) > 0; line++ {
		text := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			text, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		b.Records = append(b.Records, flow.Record{})
		rec := &b.Records[len(b.Records)-1]
		form, err := p.Parse(text, rec)
		if err != nil || form == FormBlank {
			b.Records = b.Records[:len(b.Records)-1]
			if err != nil && !b.Skipped.skip(err) {
				return &LineError{File: b.File, Line: line, Err: err}
			}
			continue
		}
		b.Lines = append(b.Lines, line)
	}
	return nil
}
