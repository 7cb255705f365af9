//go:build unix

package discovery

import "syscall"

// setBroadcast lets the socket send to broadcast addresses: without
// SO_BROADCAST the system refuses them (EACCES).
func setBroadcast(fd uintptr) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
}
