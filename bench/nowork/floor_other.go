//go:build !linux

package main

import "os"

// syncBatch fsyncs each file of the batch: there is no syncfs here.
func syncBatch(_ *os.File, batch []syncReq) error {
	for _, r := range batch {
		if err := r.f.Sync(); err != nil {
			return err
		}
	}
	return nil
}

// fdatasync makes f durable: there is no fdatasync here.
func fdatasync(f *os.File) error { return f.Sync() }
