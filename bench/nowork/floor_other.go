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
