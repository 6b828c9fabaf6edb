//go:build !unix

package queue

import "os"

// lockDir only creates the lock file: no locking outside Unix.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
