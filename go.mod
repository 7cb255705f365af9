module github.com/wispmq/wisp

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/libp2p/go-reuseport v0.4.0
	github.com/petermattis/goid v0.0.0-20261109124353-7cfa343ad0ab
	github.com/quic-go/quic-go v0.65.0
	go.uber.org/goleak v1.3.0
	golang.org/x/crypto v0.59.0
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
)
