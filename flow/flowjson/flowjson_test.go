package flowjson

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flow-auditor/flow-auditor/flow"
)

// If flow.Record or flow.Endpoint gain a field, Append and Decoder must
// learn it: this test names the counts they were written for.
func TestFieldCounts(t *testing.T) {
	if n := reflect.TypeFor[flow.Record]().NumField(); n != 22 {
		t.Errorf("flow.Record has %d fields, flowjson knows 22: update encode.go and decode.go", n)
	}
	if n := reflect.TypeFor[flow.Endpoint]().NumField(); n != 11 {
		t.Errorf("flow.Endpoint has %d fields, flowjson knows 11: update encode.go and decode.go", n)
	}
}

var oddStrings = []string{"", "a", "ai-agents", `quo"te`, `back\slash`, "tab\there", "<html>&", "nl\n\r\b\f\x01\x1f",
	"é ü ✓", "\u2028\u2029", "bad\xffutf8", "emoji 🚀"}

func randString(rng *rand.Rand) string {
	if rng.IntN(12) == 0 {
		return oddStrings[rng.IntN(len(oddStrings))]
	}
	const letters = "abcdefghijklmnopqrstuvwxyz-./0123456789"
	b := make([]byte, rng.IntN(12))
	for i := range b {
		b[i] = letters[rng.IntN(len(letters))]
	}
	return string(b)
}

func randAddr(rng *rand.Rand) netip.Addr {
	switch rng.IntN(4) {
	case 0:
		return netip.Addr{}
	case 1:
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return netip.AddrFrom16(b)
	case 2:
		return netip.MustParseAddr("fe80::1%eth0")
	default:
		return netip.AddrFrom4([4]byte{10, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
	}
}

func randEndpoint(rng *rand.Rand) flow.Endpoint {
	e := flow.Endpoint{IP: randAddr(rng), Port: uint16(rng.Uint32())}
	if rng.IntN(2) == 0 {
		e.Kind, e.Namespace, e.Pod, e.Node, e.Workload = flow.Kind(randString(rng)), randString(rng), randString(rng), randString(rng), randString(rng)
		e.Service, e.FQDN = randString(rng), randString(rng)
		e.ServicePort = uint16(rng.Uint32())
		if n := rng.IntN(20); n > 0 {
			e.Labels = map[string]string{}
			for range n {
				e.Labels[randString(rng)] = randString(rng)
			}
		}
	}
	return e
}

func randRecord(rng *rand.Rand) flow.Record {
	zones := []*time.Location{time.UTC, time.FixedZone("x", 3600+1800)}
	r := flow.Record{
		TimeFirst: time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(zones[rng.IntN(2)]),
		TimeLast:  time.Unix(rng.Int64N(4e9), 0).UTC(),
		Src:       randEndpoint(rng),
		Dst:       randEndpoint(rng),
		Protocol:  flow.Protocol(randString(rng)),
		Packets:   rng.Uint64(),
		Bytes:     rng.Uint64N(1e6),
		Observed:  flow.Observed(randString(rng)),
	}
	if rng.IntN(2) == 0 {
		a, b := uint8(rng.Uint32()), uint8(rng.Uint32())
		r.ICMPType, r.ICMPCode = &a, &b
		ans := rng.IntN(2) == 0
		r.Answered = &ans
		r.Node, r.Interface, r.TCPFlags, r.Initiator, r.Direction = randString(rng), randString(rng), randString(rng), randString(rng), randString(rng)
		r.DropReason, r.Egress, r.Ingress, r.Verdict, r.Violation, r.Explanation = randString(rng), randString(rng), randString(rng), randString(rng), randString(rng), randString(rng)
	}
	return r
}

func TestAppendMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		r := randRecord(rng)
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := Append(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
		// AppendFlat is the same object with four fields in front.
		flat := Flat{SrcIP: r.Src.IP, SrcPort: r.Src.Port, DstIP: r.Dst.IP, DstPort: r.Dst.Port}
		var l Line
		if err := Unmarshal(AppendFlat(nil, flat, &r), &l); err != nil {
			t.Fatalf("record %d: AppendFlat output does not decode: %v", i, err)
		}
		if l.Flat != flat {
			t.Fatalf("record %d: flat fields %+v, want %+v", i, l.Flat, flat)
		}
	}
}

// Whatever the fast path accepts, it decodes exactly as encoding/json does.
func TestDecodeMatchesUnmarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := NewDecoder()
	fast := 0
	for i := range 5000 {
		r := randRecord(rng)
		b := AppendFlat(nil, Flat{SrcIP: randAddr(rng), DstPort: 7}, &r)
		var want Line
		if err := Unmarshal(b, &want); err != nil {
			t.Fatalf("record %d: %v\n%s", i, err, b)
		}
		var got Line
		if d.Decode(b, &got) {
			fast++
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("record %d:\n got %+v\nwant %+v\n%s", i, got, want, b)
			}
		}
	}
	// Random strings with escapes leave some records to encoding/json; the
	// rest must take the fast path.
	if fast < 500 {
		t.Errorf("fast path took %d of 5000 records", fast)
	}
}

func TestDecodeTypicalLines(t *testing.T) {
	d := NewDecoder()
	lines := []string{
		`{"time_first":"2025-01-01T00:00:00Z","time_last":"2025-01-01T00:00:01.5Z","node":"n1","src":{"ip":"10.0.0.1","port":4000,"kind":"pod","namespace":"a","pod":"p","workload":"Deployment/d","labels":{"app":"x","role":"y"}},"dst":{"ip":"10.96.0.10","port":53},"protocol":"UDP","packets":3,"bytes":210,"observed":"forwarded"}`,
		` { "src_ip" : "10.0.0.1" , "dst_ip":"2001:db8::1", "dst_port":443, "protocol":"TCP" } `,
		`{"src":{"ip":"10.0.0.1"},"dst":{"ip":"10.0.0.2"},"protocol":"ICMPv4","icmp_type":8,"icmp_code":0,"answered":false,"packets":0,"bytes":0,"observed":"dropped"}`,
		`{}`,
	}
	for _, l := range lines {
		var got, want Line
		if !d.Decode([]byte(l), &got) {
			t.Errorf("fast path refused %s", l)
			continue
		}
		if err := Unmarshal([]byte(l), &want); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", l, got, want)
		}
	}
	// Refused: left to encoding/json.
	for _, l := range []string{
		`{"protocl":"TCP"}`, `{"protocol":"TCP","protocol":"UDP"}`, `{"protocol":null}`, `{"protocol":"T\u0043P"}`,
		`{"src":{"port":70000}}`, `{"packets":-1}`, `{"packets":1.5}`, `{"packets":01}`, `{"src":{"ip":"300.1.1.1"}}`,
		`{"protocol":"TCP"} x`, `{"protocol":"TCP"`, `[]`, ``, `{"time_first":"yesterday"}`, `{"Protocol":"TCP"}`,
	} {
		var got Line
		if d.Decode([]byte(l), &got) {
			t.Errorf("fast path accepted %s", l)
		}
	}
}

func TestTopLevelKeys(t *testing.T) {
	var keys []string
	ok := TopLevelKeys([]byte(`{"flow":{"a":[1,{"b":"}"}],"c":"\"x"},"node_name" : "n", "time":null}`), func(k []byte) bool {
		keys = append(keys, string(k))
		return true
	})
	if !ok || !reflect.DeepEqual(keys, []string{"flow", "node_name", "time"}) {
		t.Errorf("keys %v ok %v", keys, ok)
	}
	if TopLevelKeys([]byte(`{"a":`), func([]byte) bool { return true }) {
		t.Error("truncated object walked")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"src":{"ip":"10.0.0.1","port":1,"labels":{"a":"b"}},"dst":{"ip":"::1"},"protocol":"TCP","time_first":"2025-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"src_ip":"1.2.3.4","dst_port":65535,"icmp_type":255,"answered":true}`))
	d := NewDecoder()
	f.Fuzz(func(t *testing.T, b []byte) {
		var got Line
		if !d.Decode(b, &got) {
			return
		}
		var want Line
		if err := Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, b)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", b, got, want)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	line := []byte(`{"time_first":"2025-01-01T00:00:00.123456Z","time_last":"2025-01-01T00:00:01.5Z","node":"node-17","src":{"ip":"10.17.3.4","port":40123,"kind":"pod","namespace":"ns-17","pod":"app-17-5d8f-xk2p9","workload":"Deployment/app-17","labels":{"app":"app-17","tier":"backend"}},"dst":{"ip":"10.18.0.9","port":8080,"kind":"pod","namespace":"ns-18","pod":"db-0","workload":"StatefulSet/db","labels":{"app":"db"}},"protocol":"TCP","packets":12,"bytes":3456,"tcp_flags":"SYN,ACK","observed":"forwarded"}`)
	d := NewDecoder()
	var l Line
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if !d.Decode(line, &l) {
			b.Fatal("refused")
		}
	}
}

func BenchmarkAppendFlat(b *testing.B) {
	var l Line
	if err := Unmarshal([]byte(`{"time_first":"2025-01-01T00:00:00.123456Z","time_last":"2025-01-01T00:00:01.5Z","node":"node-17","src":{"ip":"10.17.3.4","port":40123,"kind":"pod","namespace":"ns-17","pod":"app-17-5d8f-xk2p9","workload":"Deployment/app-17","labels":{"app":"app-17","tier":"backend"}},"dst":{"ip":"10.18.0.9","port":8080,"kind":"pod","namespace":"ns-18","pod":"db-0","workload":"StatefulSet/db","labels":{"app":"db"}},"protocol":"TCP","packets":12,"bytes":3456,"tcp_flags":"SYN,ACK","observed":"forwarded","egress":"allow","ingress":"deny","verdict":"deny","violation":"would-deny","explanation":"egress allowed by ns-17/allow-egress rule 0 peer 1 port 0; ingress denied: isolated by ns-18/deny-all, no rule allows"}`), &l); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendFlat(buf[:0], l.Flat, &l.Record)
	}
	b.SetBytes(int64(len(buf)))
}

func FuzzParseIPv4(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3", "::1", "1.2.3.4%eth0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIPv4([]byte(s))
		want, err := netip.ParseAddr(s)
		if ok && (err != nil || got != want) {
			t.Fatalf("parseIPv4(%q) = %v, netip says %v %v", s, got, want, err)
		}
		if !ok && err == nil && want.Is4() && want.Zone() == "" {
			t.Fatalf("parseIPv4(%q) refused the IPv4 address %v", s, want)
		}
	})
}

func TestWordChecks(t *testing.T) {
	for c := range 256 {
		for pos := range 8 {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			w := load8b(b, 0)
			if w != load8(string(b), 0) {
				t.Fatal("load8 and load8b disagree")
			}
			wantHTML := c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
			if got := htmlSafeWord(w); got != wantHTML {
				t.Errorf("htmlSafeWord with byte %#x at %d = %v", c, pos, got)
			}
			wantPlain := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
			if got := plainWord(w); got != wantPlain {
				t.Errorf("plainWord with byte %#x at %d = %v", c, pos, got)
			}
		}
	}
}

// The Encoder writes what json.Marshal writes, also for label maps it
// has cached.
func TestEncoderMatchesMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	e := NewEncoder()
	shared := map[string]string{"app": "web", "tier": "<b>"}
	var prev flow.Record
	for i := range 3000 {
		r := randRecord(rng)
		switch i % 4 {
		case 0, 1:
			r.Src.Labels, r.Dst.Labels = shared, shared
		case 2:
			// The same endpoints (strings and maps) as the last record, at
			// other addresses, and a copy of one string.
			ip, port := r.Src.IP, r.Src.Port
			r.Src, r.Dst = prev.Src, prev.Dst
			r.Src.IP, r.Src.Port = ip, port
			r.Dst.Pod = strings.Clone(r.Dst.Pod)
		}
		prev = r
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Append(nil, &r); !bytes.Equal(got, want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
		flat := Flat{SrcIP: r.Src.IP, DstPort: 9}
		if got, want := e.AppendFlat(nil, flat, &r), AppendFlat(nil, flat, &r); !bytes.Equal(got, want) {
			t.Fatalf("record %d AppendFlat:\n got %s\nwant %s", i, got, want)
		}
	}
}
