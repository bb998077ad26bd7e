package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/flow/flowjson"
	"github.com/flow-auditor/flow-auditor/flow/hubbleconv"
)

// observeWriter prints each drain's records as they come.
type observeWriter struct {
	w       io.Writer
	format  string
	auditor *auditor // nil without --snapshot
	buf     []byte
	records uint64
	widths  []int // table column widths so far
}

func newObserveWriter(w io.Writer, format string, ac *auditContext) *observeWriter {
	ow := &observeWriter{w: w, format: format}
	if ac != nil {
		ow.auditor = newAuditor(ac)
	}
	return ow
}

// jsonpb as `hubble observe -o jsonpb` prints it: proto field names.
var jsonpb = protojson.MarshalOptions{UseProtoNames: true}

func (ow *observeWriter) write(batch []flow.Record) error {
	ow.buf = ow.buf[:0]
	if ow.format == formatTable {
		return ow.table(batch)
	}
	for i := range batch {
		rec := &batch[i]
		switch {
		case ow.format == formatJSONPB:
			if ow.auditor != nil {
				ow.auditor.audit(rec)
			}
			b, err := jsonpb.Marshal(hubbleconv.ToResponse(*rec))
			if err != nil {
				return fmt.Errorf("encode Hubble flow: %w", err)
			}
			ow.buf = append(ow.buf, b...)
		case ow.auditor != nil:
			// As auditor audit writes it: the wire 5-tuple flat, the
			// record resolved and judged.
			j := ow.auditor.audit(rec)
			ow.buf = flowjson.AppendFlat(ow.buf, j.wire, rec)
		default:
			ow.buf = flowjson.Append(ow.buf, rec)
		}
		ow.buf = append(ow.buf, '\n')
	}
	ow.records += uint64(len(batch))
	_, err := ow.w.Write(ow.buf)
	return err
}

// table prints a batch as aligned columns. Column widths only grow from
// one drain to the next; the header is printed again when they do, so
// that it stays above aligned rows.
func (ow *observeWriter) table(batch []flow.Record) error {
	header := []string{"LAST SEEN", "INTERFACE", "SOURCE", "DESTINATION", "PROTO", "PACKETS", "BYTES", "FLAGS", "OBSERVED"}
	if ow.auditor != nil {
		header = append(header, "VERDICT")
	}
	rows := make([][]string, 0, len(batch))
	for i := range batch {
		rec := &batch[i]
		if ow.auditor != nil {
			ow.auditor.audit(rec)
		}
		observed := string(rec.Observed)
		if rec.DropReason != "" {
			observed += " (" + rec.DropReason + ")"
		}
		flags := rec.TCPFlags
		if rec.ICMPType != nil {
			flags = "type " + strconv.Itoa(int(*rec.ICMPType)) + " code " + strconv.Itoa(int(derefU8(rec.ICMPCode)))
		}
		if rec.Initiator == "src" && rec.Answered != nil && !*rec.Answered {
			flags += " unanswered"
		}
		row := []string{rec.TimeLast.Local().Format(time.TimeOnly), rec.Interface, tableEndpoint(&rec.Src), tableEndpoint(&rec.Dst),
			string(rec.Protocol), strconv.FormatUint(rec.Packets, 10), strconv.FormatUint(rec.Bytes, 10), flags, observed}
		if ow.auditor != nil {
			v := rec.Verdict
			if rec.Violation != "" {
				v += " (" + rec.Violation + ")"
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	grew := ow.widths == nil
	if grew {
		ow.widths = make([]int, len(header))
		for i, h := range header {
			ow.widths[i] = len(h)
		}
	}
	for _, row := range rows {
		for i, c := range row {
			if len(c) > ow.widths[i] {
				ow.widths[i], grew = len(c), true
			}
		}
	}
	ow.buf = ow.buf[:0]
	if grew {
		ow.buf = ow.appendRow(ow.buf, header)
	}
	for _, row := range rows {
		ow.buf = ow.appendRow(ow.buf, row)
	}
	ow.records += uint64(len(batch))
	_, err := ow.w.Write(ow.buf)
	return err
}

func (ow *observeWriter) appendRow(b []byte, cells []string) []byte {
	for i, c := range cells {
		b = append(b, c...)
		if i == len(cells)-1 {
			break
		}
		for range ow.widths[i] - len(c) + 2 {
			b = append(b, ' ')
		}
	}
	return append(b, '\n')
}

// tableEndpoint names an endpoint: namespace/pod where resolved, the
// address and port, the DNS name the client used.
func tableEndpoint(e *flow.Endpoint) string {
	s := netip.AddrPortFrom(e.IP, e.Port).String()
	if e.Port == 0 {
		s = e.IP.String()
	}
	if e.Pod != "" {
		s = e.Namespace + "/" + e.Pod + " " + s
	}
	if e.FQDN != "" {
		s += " (" + e.FQDN + ")"
	}
	return s
}

func derefU8(p *uint8) uint8 {
	if p == nil {
		return 0
	}
	return *p
}
