// Package file reads flow files: JSON lines, each one a flow record of the
// project's own, a Hubble flow, or a Hubble GetFlowsResponse as
// `hubble observe -o jsonpb` prints it. Lines are parsed in parallel and
// delivered in input order; every error names the file and line.
package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	flowpb "github.com/cilium/cilium/api/v1/flow"
	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flow-auditor/flow-auditor/flow"
	"github.com/flow-auditor/flow-auditor/flow/flowjson"
	"github.com/flow-auditor/flow-auditor/flow/hubbleconv"
)

// Form is the shape of one line.
type Form uint8

// Line forms.
const (
	FormBlank          Form = iota // empty or whitespace only: skipped
	FormRecord                     // the project's flow record
	FormHubbleResponse             // observer.GetFlowsResponse ({"flow":{...},"node_name":...})
	FormHubbleFlow                 // a bare flow.Flow
)

func (f Form) String() string {
	switch f {
	case FormRecord:
		return "flow record"
	case FormHubbleResponse:
		return "Hubble GetFlowsResponse"
	case FormHubbleFlow:
		return "Hubble flow"
	default:
		return "blank"
	}
}

// Skippable errors: the line is well formed but holds nothing to audit.
// Readers count these lines instead of failing.
var (
	ErrNotAFlow            = hubbleconv.ErrNotAFlow
	ErrUnsupportedProtocol = hubbleconv.ErrUnsupportedProtocol
)

// Parser parses lines. It keeps caches and scratch space between lines, so
// it is not safe for concurrent use: use one per goroutine.
type Parser struct {
	dec  *flowjson.Decoder
	line flowjson.Line
	resp observer.GetFlowsResponse
	flow flowpb.Flow
}

// NewParser returns a Parser.
func NewParser() *Parser { return &Parser{dec: flowjson.NewDecoder()} }

// hubbleJSON reads Hubble lines. Unknown fields are ignored so that files
// from newer Hubble versions, with fields this build does not know, still
// read.
var hubbleJSON = protojson.UnmarshalOptions{DiscardUnknown: true}

// Parse parses one line (without its newline) into rec and validates it.
// Records may share label maps with other records of the same Parser:
// treat Endpoint.Labels as read-only.
func (p *Parser) Parse(line []byte, rec *flow.Record) (Form, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return FormBlank, nil
	}
	// Fast path: the project's own records, as the auditor writes them.
	if p.dec.Decode(line, &p.line) {
		return FormRecord, finishRecord(&p.line, rec)
	}
	form, err := classify(line)
	if err != nil {
		return form, err
	}
	switch form {
	case FormHubbleResponse:
		if err := hubbleJSON.Unmarshal(line, &p.resp); err != nil {
			return form, hubbleError(form, line, err)
		}
		*rec, err = hubbleconv.FromResponse(&p.resp)
	case FormHubbleFlow:
		if err := hubbleJSON.Unmarshal(line, &p.flow); err != nil {
			return form, hubbleError(form, line, err)
		}
		*rec, err = hubbleconv.FromHubble(&p.flow)
	default:
		if err := flowjson.Unmarshal(line, &p.line); err != nil {
			return form, recordError(err)
		}
		return form, finishRecord(&p.line, rec)
	}
	if err != nil {
		return form, err
	}
	return form, Validate(rec)
}

// finishRecord fills src and dst from the flat fields where the objects
// leave them out, then validates.
func finishRecord(l *flowjson.Line, rec *flow.Record) error {
	*rec = l.Record
	if !rec.Src.IP.IsValid() {
		rec.Src.IP = l.SrcIP
	}
	if rec.Src.Port == 0 {
		rec.Src.Port = l.SrcPort
	}
	if !rec.Dst.IP.IsValid() {
		rec.Dst.IP = l.DstIP
	}
	if rec.Dst.Port == 0 {
		rec.Dst.Port = l.DstPort
	}
	return Validate(rec)
}

// Validate checks what every source of records must get right before a
// record can be audited.
func Validate(rec *flow.Record) error {
	switch rec.Protocol {
	case flow.TCP, flow.UDP, flow.SCTP, flow.ICMPv4, flow.ICMPv6:
	case "":
		return errors.New("missing protocol (TCP, UDP, SCTP, ICMPv4 or ICMPv6)")
	default:
		return fmt.Errorf("unknown protocol %q (want TCP, UDP, SCTP, ICMPv4 or ICMPv6)", string(rec.Protocol))
	}
	switch rec.Observed {
	case "", flow.Forwarded, flow.Dropped:
	default:
		return fmt.Errorf("unknown observed %q (want forwarded or dropped)", string(rec.Observed))
	}
	switch rec.Initiator {
	case "", "src", "dst":
	default:
		return fmt.Errorf("unknown initiator %q (want src or dst)", rec.Initiator)
	}
	if err := identified("src", &rec.Src); err != nil {
		return err
	}
	return identified("dst", &rec.Dst)
}

// identified requires an address, or a pod named by namespace and name
// (which correlation resolves by name).
func identified(side string, e *flow.Endpoint) error {
	if e.IP.IsValid() || (e.Namespace != "" && e.Pod != "") {
		return nil
	}
	return fmt.Errorf("%s has no IP address and names no pod (namespace and pod)", side)
}

// recordError rewords encoding/json's errors for a person reading a flow
// file.
func recordError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return fmt.Errorf("field %s: cannot use JSON %s as %s", typ.Field, typ.Value, typ.Type)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field") {
		return fmt.Errorf("flow record: %s", msg)
	}
	return fmt.Errorf("invalid flow record: %s", msg)
}

// Top-level keys that only one form has. Hubble flow fields come from the
// flow.Flow descriptor; record-only keys are those no Hubble flow has.
var (
	responseKeys = map[string]bool{"flow": true, "node_status": true, "lost_events": true}
	recordKeys   = map[string]bool{
		"src": true, "dst": true, "time_first": true, "time_last": true, "protocol": true, "observed": true,
		"packets": true, "bytes": true, "src_ip": true, "dst_ip": true, "src_port": true, "dst_port": true,
	}
)

// flowFields describes flow.Flow's fields (immutable).
var flowFields = (*flowpb.Flow)(nil).ProtoReflect().Descriptor().Fields()

func isHubbleFlowKey(k string) bool {
	return flowFields.ByJSONName(k) != nil || flowFields.ByTextName(k) != nil
}

// classify tells the form of a line that the fast path did not take, from
// its top-level keys alone. It only walks the line's structure: a Hubble
// line is validated by protojson, a record line by encoding/json.
func classify(line []byte) (Form, error) {
	if line[0] != '{' {
		if json.Valid(line) {
			return FormRecord, errors.New("malformed line: want a JSON object")
		}
		return FormRecord, malformed(line)
	}
	var response, record, hubble bool
	ok := flowjson.TopLevelKeys(line, func(k []byte) bool {
		switch key := string(k); {
		case responseKeys[key]:
			response = true
			return false // decisive
		case recordKeys[key]:
			record = true
		case isHubbleFlowKey(key):
			hubble = true
		}
		return true
	})
	switch {
	case !ok:
		return FormRecord, malformed(line)
	case response:
		return FormHubbleResponse, nil
	case record || !hubble:
		// A line with no known key at all is most likely a mistyped
		// record: encoding/json then names the unknown field.
		return FormRecord, nil
	default:
		return FormHubbleFlow, nil
	}
}

// hubbleError explains why protojson refused a line: malformed JSON in the
// words used for every form, else protojson's own reason.
func hubbleError(form Form, line []byte, err error) error {
	if !json.Valid(line) {
		return malformed(line)
	}
	return fmt.Errorf("invalid %s: %w", form, err)
}

func malformed(line []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(line, &v)
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	return errors.New("malformed JSON")
}
