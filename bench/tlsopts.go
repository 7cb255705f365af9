package main

import (
	"fmt"
	"strings"
	"sync"

	"github.com/wispmq/wisp/socket"
	"github.com/wispmq/wisp/transport/devcert"
)

// benchTLS is the TLS config of the sockets on quic:// endpoints, which
// always run TLS 1.3. Each process makes its own throwaway certificate
// (transport/devcert) once, so no file or flag is needed; a client cannot
// know another process's fresh CA, so it does not verify the server
// (InsecureSkipVerify). That skips one certificate check per connection,
// before the timed part, which it does not change. Real deployments
// verify (see package transport/quic).
var benchTLS = sync.OnceValues(func() (socket.Option, error) {
	c, err := devcert.Config("wispbench")
	if err != nil {
		return nil, fmt.Errorf("an ephemeral certificate for quic://: %w", err)
	}
	c.InsecureSkipVerify = true
	return socket.WithTLS(c), nil
})

// endpointOptions adds to opts what a socket on endpoint needs beyond
// them: a TLS config for quic://.
func endpointOptions(endpoint string, opts []socket.Option) ([]socket.Option, error) {
	if !strings.HasPrefix(endpoint, "quic://") {
		return opts, nil
	}
	o, err := benchTLS()
	if err != nil {
		return nil, err
	}
	return append([]socket.Option{o}, opts...), nil
}
