package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDiskFull runs a helper process whose file size limit (RLIMIT_FSIZE)
// is 64 KiB, so that writing a larger message fails for real (EFBIG), as
// on a full disk, whoever the user is.
func TestDiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	out, err := helperCommand(t, "diskfull", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	t.Logf("helper: %s", out)
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("spool holds %v; want only the small message", names)
	}
}

func diskFullHelper(dir string) int {
	lim := syscall.Rlimit{Cur: 64 << 10, Max: 64 << 10}
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		fmt.Println("setrlimit:", err)
		return 1
	}
	s, err := OpenDir(dir, DirOptions{})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer s.Close()
	q, err := Open(s, nil, Options{})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	ctx := context.Background()
	_, err = q.Accept(ctx, testEnv, nil, &failingReader{n: 200 << 10, err: io.EOF})
	lastErr := err
	if !errors.Is(err, ErrSpool) || !errors.Is(err, syscall.EFBIG) {
		fmt.Println("large message: got", err, "want ErrSpool wrapping EFBIG")
		return 1
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != ".lock" {
			fmt.Println("left behind:", e.Name())
			return 1
		}
	}
	// The spool still works for what fits.
	if _, err := q.Accept(ctx, testEnv, nil, strings.NewReader(testBody)); err != nil {
		fmt.Println("small message:", err)
		return 1
	}
	fmt.Printf("ok: the large message was refused with %q", lastErr)
	return 0
}
