//go:build !unix && !windows

package discovery

import "errors"

// setBroadcast fails: this system has no socket options to set.
func setBroadcast(uintptr) error {
	return errors.New("discovery: broadcast sockets are not supported on this system")
}
