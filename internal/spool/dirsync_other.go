//go:build !windows

package spool

import "os"

// syncDir makes a directory's entries (new, renamed and removed files)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
