package ebpf

import (
	"net/netip"
	"sync"
	"time"
)

// dnsCache remembers, per client, which name each address was given for,
// until the answer's TTL runs out. Bounded: clients beyond maxClients evict
// the least recently answered client, names beyond maxNames per client
// evict the expired ones, then the one that expires first.
type dnsCache struct {
	mu         sync.Mutex
	maxClients int
	maxNames   int
	clients    map[netip.Addr]*clientNames
}

type clientNames struct {
	names   map[netip.Addr]dnsEntry
	touched time.Time
}

// dnsEntry: name was valid for the address from the answer until its TTL
// ran out.
type dnsEntry struct {
	name        string
	from, until time.Time
}

func newDNSCache(maxClients, maxNames int) *dnsCache {
	return &dnsCache{maxClients: maxClients, maxNames: maxNames, clients: map[netip.Addr]*clientNames{}}
}

func (c *dnsCache) add(client, ip netip.Addr, name string, at time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn := c.clients[client]
	if cn == nil {
		if len(c.clients) >= c.maxClients {
			c.evictClient()
		}
		cn = &clientNames{names: map[netip.Addr]dnsEntry{}}
		c.clients[client] = cn
	}
	cn.touched = at
	until := at.Add(ttl)
	if e, ok := cn.names[ip]; ok && e.name == name {
		if until.After(e.until) {
			e.until = until
		}
		cn.names[ip] = e
		return
	}
	if _, ok := cn.names[ip]; !ok && len(cn.names) >= c.maxNames {
		cn.evictName(at)
	}
	cn.names[ip] = dnsEntry{name: name, from: at, until: until}
}

func (c *dnsCache) evictClient() {
	var oldest netip.Addr
	var t time.Time
	for a, cn := range c.clients {
		if !oldest.IsValid() || cn.touched.Before(t) {
			oldest, t = a, cn.touched
		}
	}
	delete(c.clients, oldest)
}

func (cn *clientNames) evictName(now time.Time) {
	var first netip.Addr
	var t time.Time
	for a, e := range cn.names {
		if e.until.Before(now) {
			delete(cn.names, a)
			continue
		}
		if !first.IsValid() || e.until.Before(t) {
			first, t = a, e.until
		}
	}
	if len(cn.names) >= 1 && first.IsValid() {
		delete(cn.names, first)
	}
}

// clockSlack absorbs the kernel's coarse clock (a tick, up to 10 ms) and
// the conversion of its readings to wall time, done apart for answers and
// flows: a connection made in the tick of the answer may look a hair older.
const clockSlack = 100 * time.Millisecond

// lookup names ip for client's flow active from first to last: the answer
// must have been valid at some point of it.
func (c *dnsCache) lookup(client, ip netip.Addr, first, last time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	cn := c.clients[client]
	if cn == nil {
		return ""
	}
	e, ok := cn.names[ip]
	if !ok || first.After(e.until.Add(clockSlack)) || last.Before(e.from.Add(-clockSlack)) {
		return ""
	}
	return e.name
}

// expire forgets answers that ran out before horizon.
func (c *dnsCache) expire(horizon time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for client, cn := range c.clients {
		for a, e := range cn.names {
			if e.until.Before(horizon) {
				delete(cn.names, a)
			}
		}
		if len(cn.names) == 0 {
			delete(c.clients, client)
		}
	}
}

func (c *dnsCache) size() (clients, names int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cn := range c.clients {
		names += len(cn.names)
	}
	return len(c.clients), names
}
