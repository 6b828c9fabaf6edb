package message

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestScanDelims(t *testing.T) {
	body := []byte("pre\r\n--b\r\none\r\n--b\r\n--b\r\ntwo\r\n--b--\r\nepi\r\n--b\r\n")
	ds, closeAt, overflow := scanDelims(body, 0, len(body), "b", 10, false)
	want := []delim{{3, 10}, {13, 20}, {20, 25}}
	if diff := cmp.Diff(want, ds, cmp.AllowUnexported(delim{})); diff != "" || closeAt != 28 || overflow {
		t.Errorf("scanDelims = %v, %d, %v (-want +got):\n%s", ds, closeAt, overflow, diff)
	}
	if _, _, overflow := scanDelims(body, 0, len(body), "b", 2, false); !overflow {
		t.Errorf("no overflow with max 2")
	}
}
