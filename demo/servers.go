package demo

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// ioTimeout bounds every read and write of the demo's servers and clients.
const ioTimeout = 2 * time.Second

// serveHTTP answers each connection's first request line with a small
// HTTP response naming the server, then closes it. The bodies are what the
// services would send; the metadata service's "credentials" are fake.
func serveHTTP(ln net.Listener, key string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(ioTimeout))
			line, _ := bufio.NewReader(c).ReadString('\n')
			body := responseBody(key, line)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		}()
	}
}

func responseBody(key, request string) string {
	switch key {
	case KeyMetadata:
		return `{"Code":"Success","AccessKeyId":"ASIA-DEMO-NOT-A-REAL-KEY","SecretAccessKey":"demo"}` + "\n"
	case KeyLLM, KeyEmbed, KeyNewLLM:
		return `{"choices":[{"message":{"content":"demo answer"}}]}` + "\n"
	case KeyPostgres:
		return "postgresql: 1 row\n"
	}
	return key + " handled " + strings.TrimSpace(request) + "\n"
}

// dnsTTL is the TTL of the demo's DNS answers.
const dnsTTL = 60

// answerDNS builds the answer to one query: A records for the names the
// cluster DNS knows, NXDOMAIN for others.
func answerDNS(query []byte, names map[string]netip.Addr) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, err
	}
	q, err := p.Question()
	if err != nil {
		return nil, err
	}
	resp := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired},
		Questions: []dnsmessage.Question{q},
	}
	ip, ok := names[strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")]
	switch {
	case !ok:
		resp.Header.RCode = dnsmessage.RCodeNameError
	case q.Type == dnsmessage.TypeA:
		resp.Answers = []dnsmessage.Resource{{
			Header: dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: dnsTTL},
			Body:   &dnsmessage.AResource{A: ip.As4()},
		}}
	}
	return resp.Pack()
}

func serveDNSUDP(pc net.PacketConn, names map[string]netip.Addr) {
	buf := make([]byte, 1500)
	for {
		k, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if out, err := answerDNS(buf[:k], names); err == nil {
			_, _ = pc.WriteTo(out, from)
		}
	}
}

func serveDNSTCP(ln net.Listener, names map[string]netip.Addr) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(ioTimeout))
			var n uint16
			if binary.Read(c, binary.BigEndian, &n) != nil {
				return
			}
			q := make([]byte, n)
			if _, err := io.ReadFull(c, q); err != nil {
				return
			}
			out, err := answerDNS(q, names)
			if err != nil {
				return
			}
			_, _ = c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(out))))
			_, _ = c.Write(out)
		}()
	}
}
