package spool

import (
	"os"
	"syscall"
)

// datasync makes f's data durable. fdatasync skips the inode's times,
// which a reader of the log never needs.
func datasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
