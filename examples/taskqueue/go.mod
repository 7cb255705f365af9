module github.com/wispmq/wisp/examples/taskqueue

go 1.26.0

require (
	github.com/wispmq/wisp v0.0.0
	go.etcd.io/bbolt v1.4.3
	go.uber.org/goleak v1.3.0
)

require (
	github.com/libp2p/go-reuseport v0.4.0 // indirect
	github.com/petermattis/goid v0.0.0-20261109124353-7cfa343ad0ab // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/wispmq/wisp => ../..
