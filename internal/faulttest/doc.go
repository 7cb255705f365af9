// Package faulttest holds wisp's fault suite: tests that run PUSH/PULL and
// REQ/REP sockets in two Linux network namespaces, in child processes, and
// subject them to real network faults (silent partitions, a link going
// down, injected resets, a frozen or killed receiver, loss, delay,
// reordering and duplication), and hole punching between two peers, each
// behind a NAT, that meet through an introducer (package rendezvous). The
// package has no code of its own; see
// README.md for how to run the suite and what it measured.
package faulttest
