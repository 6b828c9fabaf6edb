package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncBatch makes a batch durable with one syncfs(2) of the file system
// that holds dir: one write-back and cache flush for all, as sluice does.
func syncBatch(dir *os.File, _ []syncReq) error {
	return unix.Syncfs(int(dir.Fd()))
}

// fdatasync makes f's data durable, and its size.
func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }
