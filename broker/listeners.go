package broker

import (
	"fmt"
	"net"
	"strings"
)

// Security protocols of a listener, as Kafka names them in listeners= and
// listener.security.protocol.map.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// ListenerSpec is one entry of --listeners: a name (which, as Kafka's
// default listener.security.protocol.map has it, is also its security
// protocol), the address to bind and the address put in Metadata for the
// clients that connect to it.
type ListenerSpec struct {
	Name      string // PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
	Addr      string // host:port to bind
	Advertise string // host:port given to clients; empty = the bound address
}

// TLS reports whether the listener's connections are TLS.
func (s ListenerSpec) TLS() bool { return s.Name == ProtocolSSL || s.Name == ProtocolSASLSSL }

// SASL reports whether the listener's connections must authenticate with SASL.
func (s ListenerSpec) SASL() bool {
	return s.Name == ProtocolSASLPlaintext || s.Name == ProtocolSASLSSL
}

// ParseListeners reads Kafka's listeners= and advertised.listeners=
// syntax: comma-separated NAME://host:port entries. An advertised entry
// names a listener of the first list; a listener with none advertises
// its bound address. Custom listener names (which Kafka maps to a protocol
// with listener.security.protocol.map) are not supported: the name is the
// protocol.
func ParseListeners(listeners, advertised string) ([]ListenerSpec, error) {
	var specs []ListenerSpec
	seen := map[string]int{}
	for _, e := range splitListeners(listeners) {
		name, addr, err := parseListener("--listeners", e)
		if err != nil {
			return nil, err
		}
		if _, dup := seen[name]; dup {
			return nil, fmt.Errorf("--listeners: listener %s given twice (each name may appear once, as in Kafka)", name)
		}
		seen[name] = len(specs)
		specs = append(specs, ListenerSpec{Name: name, Addr: addr})
	}
	if len(specs) == 0 && listeners != "" {
		return nil, fmt.Errorf("--listeners %q names no listener", listeners)
	}
	done := map[string]bool{}
	for _, e := range splitListeners(advertised) {
		name, addr, err := parseListener("--advertised-listeners", e)
		if err != nil {
			return nil, err
		}
		i, ok := seen[name]
		if !ok {
			return nil, fmt.Errorf("--advertised-listeners: %s is not in --listeners", name)
		}
		if done[name] {
			return nil, fmt.Errorf("--advertised-listeners: listener %s given twice", name)
		}
		done[name] = true
		specs[i].Advertise = addr
	}
	return specs, nil
}

func splitListeners(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func parseListener(flag, e string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(e, "://")
	if !ok {
		return "", "", fmt.Errorf("%s: %q is not NAME://host:port", flag, e)
	}
	name = strings.ToUpper(name)
	switch name {
	case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
	default:
		return "", "", fmt.Errorf("%s: listener name %q is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL (listener.security.protocol.map is not supported)", flag, name)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("%s: %s: %w", flag, e, err)
	}
	return name, addr, nil
}

// listener is one bound listener of the broker.
type listener struct {
	spec ListenerSpec
	ln   net.Listener
	host string // advertised in Metadata, DescribeCluster, FindCoordinator
	port int32
	tls  *tlsState // nil: not TLS
}

// advHost and advPort are what the connection's listener advertises in
// Metadata, DescribeCluster and FindCoordinator: as in Kafka, a client
// learns the broker's address on the listener it came in on.
func (c *conn) advHost() string {
	if c.lis == nil {
		return c.b.host
	}
	return c.lis.host
}

func (c *conn) advPort() int32 {
	if c.lis == nil {
		return c.b.port
	}
	return c.lis.port
}

// bindListeners binds every --listeners entry, in order; the first is the
// broker's main address (Addr, the console). A listener that cannot bind
// closes those bound before it.
func (b *Broker) bindListeners() (err error) {
	defer func() {
		if err != nil {
			for _, l := range b.sec.listeners {
				l.ln.Close()
			}
			b.sec.listeners = nil
		}
	}()
	for _, s := range b.cfg.Listeners {
		if (s.TLS()) && b.sec.tls == nil {
			return fmt.Errorf("broker: listener %s needs --ssl-certificate and --ssl-key", s.Name)
		}
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("broker: --listeners %s://%s: %w (another broker? choose another address in --listeners)", s.Name, s.Addr, err)
		}
		l := &listener{spec: s, ln: ln}
		b.sec.listeners = append(b.sec.listeners, l)
		if l.host, l.port, err = advertised(s.Advertise, s.Addr, ln.Addr()); err != nil {
			return fmt.Errorf("listener %s: %w", s.Name, err)
		}
		if s.TLS() {
			l.tls = b.sec.tls
		}
		if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() && s.Name == ProtocolPlaintext {
			b.log.Warn("a PLAINTEXT listener is reachable beyond this machine: its connections are neither encrypted nor authenticated, anyone who can connect can read, write and delete topics and reset consumer groups; bind it to 127.0.0.1, use SSL/SASL_SSL, or restrict access with a firewall",
				"listener", s.Name, "addr", ln.Addr().String())
		}
	}
	first := b.sec.listeners[0]
	b.ln, b.host, b.port = first.ln, first.host, first.port
	return nil
}

// closeListeners closes every bound listener.
func (b *Broker) closeListeners() {
	if len(b.sec.listeners) == 0 && b.ln != nil {
		b.ln.Close()
	}
	for _, l := range b.sec.listeners {
		l.ln.Close()
	}
}

// ListenerAddr is the bound address of the listener named name
// (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), or "" if there is none.
func (b *Broker) ListenerAddr(name string) string {
	for _, l := range b.sec.listeners {
		if l.spec.Name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}
