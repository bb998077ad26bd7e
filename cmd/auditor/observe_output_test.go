package main

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/cilium/api/v1/observer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flow-auditor/flow-auditor/flow"
)

func observedRecords() []flow.Record {
	t0 := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	answered := true
	return []flow.Record{
		{TimeFirst: t0, TimeLast: t0.Add(time.Second), Node: "n1", Interface: "veth1",
			Src:      flow.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: 40000},
			Dst:      flow.Endpoint{IP: netip.MustParseAddr("203.0.113.7"), Port: 443, FQDN: "api.llm.example"},
			Protocol: flow.TCP, Packets: 10, Bytes: 5000, TCPFlags: "SYN,ACK", Initiator: "src", Answered: &answered,
			Direction: "egress", Observed: flow.Forwarded},
		{TimeFirst: t0, TimeLast: t0, Node: "n1", Interface: "veth1",
			Src:      flow.Endpoint{IP: netip.MustParseAddr("10.0.0.1"), Port: 5353},
			Dst:      flow.Endpoint{IP: netip.MustParseAddr("10.0.0.2"), Port: 9100},
			Protocol: flow.UDP, Packets: 3, Bytes: 384, Observed: flow.Dropped, DropReason: "NETFILTER_DROP"},
	}
}

func TestObserveWriterJSONL(t *testing.T) {
	var out bytes.Buffer
	w := newObserveWriter(&out, formatJSONL, nil)
	recs := observedRecords()
	if err := w.write(recs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, line := range lines {
		want, _ := json.Marshal(recs[i])
		if line != string(want) {
			t.Errorf("line %d:\n got %s\nwant %s", i, line, want)
		}
	}
}

func TestObserveWriterJSONPB(t *testing.T) {
	var out bytes.Buffer
	w := newObserveWriter(&out, formatJSONPB, nil)
	if err := w.write(observedRecords()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	var resp observer.GetFlowsResponse
	if err := protojson.Unmarshal([]byte(lines[0]), &resp); err != nil {
		t.Fatal(err)
	}
	f := resp.GetFlow()
	if resp.GetNodeName() != "n1" || f.GetL4().GetTCP().GetDestinationPort() != 443 || f.GetDestinationNames()[0] != "api.llm.example" ||
		f.GetVerdict().String() != "FORWARDED" || f.GetTrafficDirection().String() != "EGRESS" {
		t.Errorf("Hubble flow: %s", lines[0])
	}
	// Field names as `hubble observe -o jsonpb` prints them.
	for _, key := range []string{`"node_name":"n1"`, `"IP":{`, `"l4":{"TCP":{`, `"destination_port":443`} {
		if !strings.Contains(lines[0], key) {
			t.Errorf("no %s in %s", key, lines[0])
		}
	}
}

func TestObserveWriterTableStaysAligned(t *testing.T) {
	var out bytes.Buffer
	w := newObserveWriter(&out, formatTable, nil)
	recs := observedRecords()
	if err := w.write(recs[1:]); err != nil {
		t.Fatal(err)
	}
	if err := w.write(recs[:1]); err != nil { // wider: the header comes again
		t.Fatal(err)
	}
	if err := w.write(recs[1:]); err != nil { // narrower: no header
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "LAST SEEN") || !strings.HasPrefix(lines[2], "LAST SEEN") {
		t.Fatalf("table:\n%s", out.String())
	}
	col := strings.Index(lines[2], "DESTINATION")
	for _, l := range lines[3:] {
		if l[col-2:col] != "  " || l[col] == ' ' {
			t.Errorf("row not aligned under DESTINATION (column %d):\n%s", col, out.String())
		}
	}
	if !strings.Contains(lines[3], "203.0.113.7:443 (api.llm.example)") || !strings.Contains(lines[4], "dropped (NETFILTER_DROP)") {
		t.Errorf("table:\n%s", out.String())
	}
}
