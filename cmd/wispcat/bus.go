package main

import "github.com/wispmq/wisp/socket"

// runBus is bus: a member of a mesh of bus peers. Once -wait-peers members
// are connected it sends each input line to all of them and prints what
// any member sends, as dealer does with its one peer at a time. Waiting
// first is what makes "every member gets every line" hold: a line goes to
// the members connected when it is sent, and one that connects later
// never gets it.
func runBus(r *runner) int {
	if status, ok := r.awaitPeers(); !ok {
		return status
	}
	status, _ := duplex(r, r.cfg.format.message, oneFrame)
	return status
}

// waitPeersDefault marks -wait-peers left unset: wait for as many members
// as there are -connect endpoints.
const waitPeersDefault = -1

// peersToWaitFor is the number of members a bus waits for before sending.
func (c *config) peersToWaitFor() int {
	if c.waitPeers == waitPeersDefault {
		return len(c.connects)
	}
	return c.waitPeers
}

// awaitPeers waits until -wait-peers members are connected. When it cannot
// (a timeout, a signal, a socket error) it closes the socket and returns
// false with the exit status.
func (r *runner) awaitPeers() (int, bool) {
	n := r.cfg.peersToWaitFor()
	if n == 0 {
		return exitOK, true
	}
	err := r.s.WaitPeers(r.ctx, n)
	if err == nil {
		return exitOK, true
	}
	have := connected(r.s)
	r.s.Close()
	switch r.stopped() {
	case "timeout":
		r.errorf("%s: %d of %d peers connected, sent 0 messages", r.timeoutReason(), have, n)
		return exitFailure, false
	case "signal":
		return r.signalStatus(), false
	}
	r.errorf("waiting for peers: %v", err)
	return exitFailure, false
}

// connected counts the socket's connected peers, as WaitPeers counts them.
func connected(s *socket.Socket) int {
	n := 0
	for _, p := range s.Stats().Peers {
		if p.Connected {
			n++
		}
	}
	return n
}
