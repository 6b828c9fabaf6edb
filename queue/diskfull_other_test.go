//go:build !linux

package queue

import "fmt"

func diskFullHelper(string) int {
	fmt.Println("no RLIMIT_FSIZE here")
	return 1
}
