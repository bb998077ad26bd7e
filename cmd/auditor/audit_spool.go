package main

import (
	"fmt"
	"io"
	"os"
)

// Spool limits: output up to spoolMemory stays in memory, in chunks of
// spoolChunk (so that growing never copies); beyond it, everything moves to
// a temporary file. A million audited flows print ~800 MB.
const (
	spoolMemory = 32 << 20
	spoolChunk  = 1 << 20
)

// spool holds a command's output until the command knows that its input
// was good, so that bad input leaves stdout empty rather than half written.
//
// When stdout is an empty regular file (`> out.jsonl`), output goes
// straight to it, and abort empties it again: the same end state without
// writing everything twice. Otherwise output is held in memory, then in an
// unlinked temporary file, and copied to stdout by commit.
type spool struct {
	out    io.Writer
	direct *os.File // stdout itself, in direct mode

	chunks [][]byte
	size   int64
	f      *os.File
	// drop bytes are dropped from the next writes (the comma before the
	// first element of a JSON array).
	drop int
}

func newSpool(stdout io.Writer) *spool {
	s := &spool{out: stdout}
	if f, ok := stdout.(*os.File); ok && emptyRegularFile(f) {
		s.direct = f
	}
	return s
}

// emptyRegularFile reports whether f is a regular file with nothing in it,
// written from its start: emptying it again loses nothing.
func emptyRegularFile(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() != 0 {
		return false
	}
	off, err := f.Seek(0, io.SeekCurrent)
	return err == nil && off == 0
}

func (s *spool) Write(p []byte) (int, error) {
	n := len(p)
	if s.drop > 0 {
		k := min(s.drop, len(p))
		s.drop -= k
		p = p[k:]
	}
	if s.direct != nil {
		if _, err := s.direct.Write(p); err != nil {
			return 0, err
		}
		return n, nil
	}
	if s.f == nil && s.size+int64(len(p)) > spoolMemory {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	s.size += int64(len(p))
	if s.f != nil {
		if _, err := s.f.Write(p); err != nil {
			return 0, fmt.Errorf("spool output: %w", err)
		}
		return n, nil
	}
	for len(p) > 0 {
		if len(s.chunks) == 0 || len(s.chunks[len(s.chunks)-1]) == spoolChunk {
			s.chunks = append(s.chunks, make([]byte, 0, spoolChunk))
		}
		last := &s.chunks[len(s.chunks)-1]
		k := min(len(p), spoolChunk-len(*last))
		*last = append(*last, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

// spill moves the output to an unlinked temporary file: nothing is left
// behind whatever happens next.
func (s *spool) spill() error {
	f, err := os.CreateTemp("", "auditor-output-*")
	if err != nil {
		return fmt.Errorf("spool output: %w", err)
	}
	_ = os.Remove(f.Name())
	s.f = f
	for _, c := range s.chunks {
		if _, err := f.Write(c); err != nil {
			return fmt.Errorf("spool output: %w", err)
		}
	}
	s.chunks = nil
	return nil
}

// commit writes what was spooled to stdout (nothing to do in direct mode).
func (s *spool) commit() error {
	if s.direct != nil {
		return nil
	}
	if s.f == nil {
		for _, c := range s.chunks {
			if _, err := s.out.Write(c); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spool output: %w", err)
	}
	// An *os.File destination copies in the kernel (copy_file_range,
	// splice) when it can.
	_, err := io.Copy(s.out, s.f)
	return err
}

// abort forgets the output: in direct mode, stdout is emptied again.
func (s *spool) abort() error {
	if s.direct == nil {
		return nil
	}
	if _, err := s.direct.Seek(0, io.SeekStart); err != nil {
		return err
	}
	return s.direct.Truncate(0)
}

func (s *spool) Close() error {
	s.chunks = nil
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
