//go:build !unix

package pipeline

func cpuTime() int64 { return 0 }
