package broker

import (
	"fmt"
	"net"
	"strconv"
)

// bind listens on the Kafka address (or takes Config.Listener) and works
// out the address put in Metadata. New calls it before it touches the data
// directory, so that a start that cannot listen changes no file.
func (b *Broker) bind() error {
	ln := b.cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", b.cfg.Listen); err != nil {
			return fmt.Errorf("broker: --listen %s: %w (another broker? choose another address with --listen)", b.cfg.Listen, err)
		}
	}
	host, port, err := advertised(b.cfg.Advertise, b.cfg.Listen, ln.Addr())
	if err != nil {
		ln.Close()
		return err
	}
	b.ln, b.host, b.port = ln, host, port
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		b.log.Warn("the Kafka listener is reachable beyond this machine and has no authentication: anyone who can connect can read, write and delete topics and reset consumer groups; bind --listen to 127.0.0.1 or restrict access with a firewall",
			"addr", ln.Addr().String())
	}
	return nil
}

// advertised returns the host and port clients are told to connect to:
// the --advertise address, or the bound address. A wildcard address is
// refused, as Kafka refuses 0.0.0.0 in advertised.listeners: a client told
// to connect to 0.0.0.0 or [::] reaches nothing, or only its own machine.
func advertised(adv, listen string, bound net.Addr) (string, int32, error) {
	_, boundPort, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", 0, fmt.Errorf("broker: listener address %q: %w", bound, err)
	}
	if adv == "" {
		host, _, _ := net.SplitHostPort(bound.String())
		if wildcard(host) {
			return "", 0, fmt.Errorf("broker: --listen %q binds every interface (%s), which is no address clients can connect to: set --advertise to the host:port clients should use (Kafka refuses the meta-address 0.0.0.0 in advertised.listeners too)", listen, bound)
		}
		adv = bound.String()
	}
	host, port, err := net.SplitHostPort(adv)
	if err != nil {
		return "", 0, fmt.Errorf("broker: --advertise %q: %w", adv, err)
	}
	if wildcard(host) {
		return "", 0, fmt.Errorf("broker: --advertise %q is not an address clients can connect to; give the host name or IP address clients should use", adv)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("broker: --advertise port %q: %w", port, err)
	}
	if p == 0 { // listening on :0 with the default advertise: use the real port
		p, _ = strconv.ParseUint(boundPort, 10, 16)
	}
	return host, int32(p), nil
}

// wildcard reports whether host is empty or an unspecified address
// (0.0.0.0, ::): one that listens everywhere and names no machine.
func wildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
