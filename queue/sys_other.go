//go:build !(linux && (amd64 || arm64))

package queue

import (
	"errors"
	"os"
)

func syncfsReliable() bool { return false }

func fdatasync(f *os.File) error { return f.Sync() }

func startWriteback(*os.File) {}

func syncfs(*os.File) error { return errors.ErrUnsupported }

func deviceOf(*os.File) (uint64, bool) { return 0, false }

func yieldThread() {}
