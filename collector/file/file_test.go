package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/flow-auditor/flow-auditor/flow"
)

const (
	recordLine   = `{"time_first":"2025-01-01T00:00:00Z","time_last":"2025-01-01T00:00:00Z","src":{"ip":"10.244.1.5","port":40000},"dst":{"ip":"10.96.0.10","port":53},"protocol":"UDP","packets":1,"bytes":80,"observed":"forwarded"}`
	responseLine = `{"flow":{"time":"2025-01-01T00:00:01Z","verdict":"DROPPED","IP":{"source":"10.244.1.5","destination":"10.244.2.9","ipVersion":"IPv4"},"l4":{"TCP":{"source_port":41000,"destination_port":8000,"flags":{"SYN":true}}},"source":{"namespace":"ai-agents","pod_name":"specialist-a","labels":["k8s:app=ai-agent"]},"destination":{"namespace":"ai-agents","pod_name":"specialist-b"},"drop_reason_desc":"POLICY_DENIED","traffic_direction":"INGRESS"},"node_name":"kind-worker","time":"2025-01-01T00:00:01Z"}`
	bareFlowLine = `{"time":"2025-01-01T00:00:02Z","verdict":"FORWARDED","IP":{"source":"10.244.1.5","destination":"203.0.113.7"},"l4":{"TCP":{"source_port":41001,"destination_port":443}},"destination_names":["api.llm.example"],"node_name":"kind-worker"}`
)

func parse(t *testing.T, line string) (flow.Record, Form, error) {
	t.Helper()
	var r flow.Record
	form, err := NewParser().Parse([]byte(line), &r)
	return r, form, err
}

func TestParseForms(t *testing.T) {
	r, form, err := parse(t, recordLine)
	if err != nil || form != FormRecord {
		t.Fatalf("record: form %v err %v", form, err)
	}
	if r.Dst.IP != netip.MustParseAddr("10.96.0.10") || r.Dst.Port != 53 || r.Protocol != flow.UDP || r.Bytes != 80 {
		t.Errorf("record: %+v", r)
	}

	r, form, err = parse(t, responseLine)
	if err != nil || form != FormHubbleResponse {
		t.Fatalf("response: form %v err %v", form, err)
	}
	if r.Node != "kind-worker" || r.Observed != flow.Dropped || r.DropReason != "POLICY_DENIED" || r.Dst.Port != 8000 ||
		r.Src.Pod != "specialist-a" || r.Src.Labels["app"] != "ai-agent" || r.TCPFlags != "SYN" || r.Direction != "ingress" {
		t.Errorf("response: %+v", r)
	}

	r, form, err = parse(t, bareFlowLine)
	if err != nil || form != FormHubbleFlow {
		t.Fatalf("bare flow: form %v err %v", form, err)
	}
	if r.Dst.FQDN != "api.llm.example" || r.Dst.Port != 443 || r.Observed != flow.Forwarded {
		t.Errorf("bare flow: %+v", r)
	}

	// Hand-written record: flat fields, any key order, escapes (slow path).
	r, form, err = parse(t, ` {"protocol":"TCP","dst_port":5432,"dst_ip":"10.244.3.3","src":{"namespace":"ai-agents","pod":"sp\u0065cialist-a"}}`+"\r")
	if err != nil || form != FormRecord {
		t.Fatalf("hand-written: form %v err %v", form, err)
	}
	if r.Dst.IP != netip.MustParseAddr("10.244.3.3") || r.Dst.Port != 5432 || r.Src.Pod != "specialist-a" {
		t.Errorf("hand-written: %+v", r)
	}

	if _, form, err = parse(t, " \t"); err != nil || form != FormBlank {
		t.Errorf("blank: form %v err %v", form, err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ line, want string }{
		{`{"src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2"},"protocol":"XYZ"}`, `unknown protocol "XYZ"`},
		{`{"src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2"}}`, `missing protocol`},
		{`{"src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2"},"protocol":"TCP"`, `malformed JSON at byte`},
		{`{"src":{"ip":"10.0.0.1"} "dst":{}}`, `malformed JSON at byte 26`},
		{`not json`, `malformed JSON`},
		{`[1,2]`, `want a JSON object`},
		{`{"src":{"ip":"10.0.0.300"},"dst":{"ip":"10.0.0.2"},"protocol":"TCP"}`, `10.0.0.300`},
		{`{"src_ip":"nope","dst_ip":"10.0.0.2","protocol":"TCP"}`, `nope`},
		{`{"src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2"},"protocl":"TCP"}`, `unknown field "protocl"`},
		{`{"src":{"ip":"10.0.0.1","port":70000},"dst":{"ip":"10.0.0.2"},"protocol":"TCP"}`, `src.port`},
		{`{"dst":{"ip":"10.0.0.2"},"protocol":"TCP"}`, `src has no IP address`},
		{`{"src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2"},"protocol":"TCP","observed":"maybe"}`, `unknown observed "maybe"`},
		{`{"flow":{"IP":"10.0.0.1"}}`, `invalid Hubble GetFlowsResponse`},
		{`{"flow":{"IP":{"source":"10.0.0.1","destination":"999.1.1.1"},"l4":{"UDP":{}}}}`, `invalid destination IP "999.1.1.1"`},
		{`{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"verdict":"FORWARDED"}`, `no L4 protocol`},
		{`{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"TCP":{}},"time":"never"}`, `invalid Hubble flow`},
	}
	for _, tc := range cases {
		_, _, err := parse(t, tc.line)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\n  err = %v, want it to contain %q", tc.line, err, tc.want)
		}
	}
}

func TestParseSkips(t *testing.T) {
	for _, line := range []string{
		`{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":3},"node_name":"n1"}`,
		`{"node_status":{"state_change":"NODE_CONNECTED","node_names":["n1"]}}`,
	} {
		if _, _, err := parse(t, line); !errors.Is(err, ErrNotAFlow) {
			t.Errorf("%s: %v, want ErrNotAFlow", line, err)
		}
	}
	if _, _, err := parse(t, `{"flow":{"IP":{"source":"10.0.0.1","destination":"224.0.0.1"},"l4":{"IGMP":{}}}}`); !errors.Is(err, ErrUnsupportedProtocol) {
		t.Errorf("IGMP: %v, want ErrUnsupportedProtocol", err)
	}
}

// genLines returns n lines mixing the three forms, blank lines and skipped
// events; flow i has source port 10000+i.
func genLines(n int) string {
	var b strings.Builder
	for i := range n {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&b, `{"flow":{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"UDP":{"source_port":%d,"destination_port":53}}}}`+"\n", 10000+i)
		case 1:
			fmt.Fprintf(&b, `{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"TCP":{"source_port":%d,"destination_port":80}}}`+"\n", 10000+i)
		case 2:
			b.WriteString("\n" + `{"lost_events":{"num_events_lost":1}}` + "\n")
			fallthrough
		default:
			fmt.Fprintf(&b, `{"src":{"ip":"10.0.0.1","port":%d},"dst":{"ip":"10.0.0.2","port":443},"protocol":"TCP","packets":1,"bytes":60,"observed":"forwarded","time_first":"2025-01-01T00:00:00Z","time_last":"2025-01-01T00:00:00Z"}`+"\n", 10000+i)
		}
	}
	return b.String()
}

func readAll(t *testing.T, name, data string) ([]flow.Record, Skipped) {
	t.Helper()
	r := NewReader(name, strings.NewReader(data))
	var out []flow.Record
	for {
		var rec flow.Record
		err := r.Read(&rec)
		if errors.Is(err, io.EOF) {
			return out, r.Skipped()
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		out = append(out, rec)
	}
}

type collected struct {
	recs    []flow.Record
	lines   []string
	skipped Skipped
}

func runCollect(inputs []Input, opt Options) (collected, error) {
	var c collected
	err := Run(context.Background(), inputs, opt,
		func(int, *Batch[struct{}]) error { return nil },
		func(b *Batch[struct{}]) error {
			c.recs = append(c.recs, b.Records...)
			for _, l := range b.Lines {
				c.lines = append(c.lines, fmt.Sprintf("%s:%d", b.File, l))
			}
			c.skipped.Add(b.Skipped)
			return nil
		})
	return c, err
}

func TestRunKeepsOrder(t *testing.T) {
	data := genLines(5000)
	want, wantSkipped := readAll(t, "a", data)
	if len(want) != 5000 || wantSkipped.NotFlow != 714 { // i%7 == 2 for 714 of 0..4999
		t.Fatalf("sequential reader: %d flows, skipped %+v", len(want), wantSkipped)
	}
	// Small chunks and a reader returning one byte at a time stress the
	// line splitting; several workers stress the ordering.
	for _, opt := range []Options{{Workers: 1}, {Workers: 4, ChunkSize: 1000}, {Workers: 3, ChunkSize: 64}} {
		c, err := runCollect([]Input{{Name: "a", R: iotest.HalfReader(strings.NewReader(data))}}, opt)
		if err != nil {
			t.Fatalf("%+v: %v", opt, err)
		}
		if !reflect.DeepEqual(c.recs, want) || c.skipped != wantSkipped {
			t.Fatalf("%+v: %d flows skipped %+v, want %d flows skipped %+v", opt, len(c.recs), c.skipped, len(want), wantSkipped)
		}
	}
}

func TestRunLineNumbersAcrossFiles(t *testing.T) {
	a := recordLine + "\n\n" + recordLine + "\n"
	b := "\n" + responseLine + "\r\n" + bareFlowLine // no final newline
	c, err := runCollect([]Input{{Name: "a.jsonl", R: strings.NewReader(a)}, {Name: "b.jsonl", R: strings.NewReader(b)}}, Options{Workers: 2, ChunkSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a.jsonl:1", "a.jsonl:3", "b.jsonl:2", "b.jsonl:3"}
	if !reflect.DeepEqual(c.lines, want) {
		t.Errorf("lines %v, want %v", c.lines, want)
	}
}

func TestRunReportsFirstBadLine(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(genLines(3000), "\n"), "\n")
	lines[1700] = `{"src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2"},"protocol":"XYZ"}`
	lines[2500] = `{oops`
	_, err := runCollect([]Input{{Name: "flows.jsonl", R: strings.NewReader(strings.Join(lines, "\n"))}}, Options{Workers: 4, ChunkSize: 512})
	want := `flows.jsonl:1701: unknown protocol "XYZ" (want TCP, UDP, SCTP, ICMPv4 or ICMPv6)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	var le *LineError
	if !errors.As(err, &le) || le.Line != 1701 {
		t.Errorf("not a *LineError for line 1701: %#v", err)
	}
	// The sequential reader agrees.
	r := NewReader("flows.jsonl", strings.NewReader(strings.Join(lines, "\n")))
	for {
		var rec flow.Record
		if err := r.Read(&rec); err != nil {
			if err.Error() != want {
				t.Errorf("Reader: %v", err)
			}
			break
		}
	}
}

func TestRunErrors(t *testing.T) {
	_, err := runCollect([]Input{{Name: "x", R: iotest.ErrReader(errors.New("disk on fire"))}}, Options{})
	if err == nil || !strings.Contains(err.Error(), "read x: disk on fire") {
		t.Errorf("read error: %v", err)
	}
	// An emit error stops the run and Run returns it, leaving no goroutine
	// behind (the race detector and the test's exit would show one).
	stop := errors.New("stop")
	err = Run(context.Background(), []Input{{Name: "a", R: strings.NewReader(genLines(2000))}}, Options{Workers: 2, ChunkSize: 256},
		func(int, *Batch[int]) error { return nil },
		func(*Batch[int]) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("emit error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := runCollect([]Input{{Name: "a", R: strings.NewReader(genLines(100))}}, Options{}); err != nil {
		t.Errorf("uncancelled: %v", err)
	}
	err = Run(ctx, []Input{{Name: "a", R: strings.NewReader(genLines(100))}}, Options{},
		func(int, *Batch[int]) error { return nil }, func(*Batch[int]) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestLongLine(t *testing.T) {
	long := `{"src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2"},"protocol":"TCP","explanation":"` + strings.Repeat("x", 300_000) + `"}`
	c, err := runCollect([]Input{{Name: "a", R: strings.NewReader(recordLine + "\n" + long + "\n" + recordLine)}}, Options{ChunkSize: 1024})
	if err != nil || len(c.recs) != 3 || len(c.recs[1].Explanation) != 300_000 {
		t.Errorf("long line: err %v, %d records", err, len(c.recs))
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{recordLine, responseLine, bareFlowLine, `{"protocol":"XYZ"}`, `{`, `[]`, `{"flow":{}}`,
		`{"src_ip":"1.2.3.4","dst_ip":"::1","protocol":"ICMPv6","icmp_type":128}`, `{"l4":{"ICMPv4":{"type":300}}}`, "\"\\ud800\""} {
		f.Add([]byte(s))
	}
	p := NewParser()
	f.Fuzz(func(t *testing.T, line []byte) {
		var rec flow.Record
		form, err := p.Parse(line, &rec)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("empty error message for %q", line)
			}
			return
		}
		if form == FormBlank {
			return
		}
		// Whatever parses is auditable.
		if verr := Validate(&rec); verr != nil {
			t.Fatalf("parsed %q into an invalid record: %v", line, verr)
		}
	})
}

func BenchmarkParseLine(b *testing.B) {
	for _, c := range []struct{ name, line string }{
		{"record", recordLine},
		{"record-enriched", `{"time_first":"2025-06-02T12:00:00.123Z","time_last":"2025-06-02T12:00:00.123Z","node":"node-7","src":{"ip":"10.64.1.7","port":40123,"kind":"pod","namespace":"ns-7","pod":"web-3","workload":"Deployment/web","labels":{"app":"web","tier":"t1"}},"dst":{"ip":"10.96.0.7","port":80},"protocol":"TCP","packets":12,"bytes":3456,"tcp_flags":"SYN,ACK","initiator":"src","observed":"forwarded"}`},
		{"hubble-response", responseLine},
		{"hubble-flow", bareFlowLine},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := NewParser()
			var r flow.Record
			line := []byte(c.line)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Parse(line, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
