//go:build windows

package discovery

import "syscall"

// setBroadcast lets the socket send to broadcast addresses.
func setBroadcast(fd uintptr) error {
	return syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, 1)
}
