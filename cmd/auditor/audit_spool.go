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
type spool struct {
	chunks [][]byte
	size   int64
	f      *os.File
}

func (s *spool) Write(p []byte) (int, error) {
	n := len(p)
	if s.f == nil && s.size+int64(n) > spoolMemory {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	s.size += int64(n)
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

// copyTo writes the spooled output, less its first skip bytes, to w.
func (s *spool) copyTo(w io.Writer, skip int64) error {
	if s.f == nil {
		for _, c := range s.chunks {
			k := min(skip, int64(len(c)))
			skip -= k
			if _, err := w.Write(c[k:]); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := s.f.Seek(skip, io.SeekStart); err != nil {
		return fmt.Errorf("spool output: %w", err)
	}
	// An *os.File destination copies in the kernel (copy_file_range,
	// splice) when it can.
	_, err := io.Copy(w, s.f)
	return err
}

func (s *spool) Close() error {
	s.chunks = nil
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
