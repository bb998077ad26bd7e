package file

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/flow-auditor/flow-auditor/flow"
)

// MaxLineSize bounds one line: a Hubble flow with L7 details is a few
// kilobytes, so anything this long is not a flow file.
const MaxLineSize = 16 << 20

// LineError is a problem with one line of one file; it prints as
// "file:line: problem", as compilers do.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Skipped counts lines that held nothing to audit.
type Skipped struct {
	// NotFlow counts Hubble events that carry no flow (node_status,
	// lost_events).
	NotFlow int
	// Unsupported counts flows of protocols NetworkPolicy cannot name
	// (VRRP, IGMP).
	Unsupported int
}

// Add adds o's counts to s.
func (s *Skipped) Add(o Skipped) {
	s.NotFlow += o.NotFlow
	s.Unsupported += o.Unsupported
}

// skip reports whether err only means the line is to be skipped, and
// counts it.
func (s *Skipped) skip(err error) bool {
	switch {
	case errors.Is(err, ErrNotAFlow):
		s.NotFlow++
	case errors.Is(err, ErrUnsupportedProtocol):
		s.Unsupported++
	default:
		return false
	}
	return true
}

// Reader reads the flows of one file, one at a time, in order. For large
// files Run is faster: it parses on several goroutines.
type Reader struct {
	name    string
	br      *bufio.Reader
	p       *Parser
	line    int
	skipped Skipped
	buf     []byte
}

// NewReader reads flows from r; name is the file name errors give.
func NewReader(name string, r io.Reader) *Reader {
	return &Reader{name: name, br: bufio.NewReaderSize(r, 256<<10), p: NewParser()}
}

// Read parses the next flow into rec, skipping blank lines and lines with
// nothing to audit. It returns io.EOF after the last flow, or a
// *LineError.
func (r *Reader) Read(rec *flow.Record) error {
	for {
		line, err := r.next()
		if err != nil {
			return err
		}
		form, perr := r.p.Parse(line, rec)
		if perr != nil {
			if r.skipped.skip(perr) {
				continue
			}
			return &LineError{File: r.name, Line: r.line, Err: perr}
		}
		if form != FormBlank {
			return nil
		}
	}
}

// Skipped returns the lines skipped so far.
func (r *Reader) Skipped() Skipped { return r.skipped }

// next returns the next line without its newline, or io.EOF.
func (r *Reader) next() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.buf = append(r.buf, chunk...)
		if len(r.buf) > MaxLineSize {
			return nil, &LineError{File: r.name, Line: r.line + 1, Err: fmt.Errorf("line longer than %d bytes", MaxLineSize)}
		}
		switch {
		case err == nil:
			r.line++
			return r.buf[:len(r.buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(r.buf) == 0 {
				return nil, io.EOF
			}
			r.line++
			return r.buf, nil
		default:
			return nil, fmt.Errorf("read %s: %w", r.name, err)
		}
	}
}
