package message

import (
	"strings"
	"testing"
)

func TestEncodeQP(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"café = ok", "caf=C3=A9 =3D ok"},
		{"trailing \nspace\t", "trailing=20\r\nspace=09"},
		{"From here\n.\n", "=46rom here\r\n=2E\r\n"},
		{strings.Repeat("a", 80), strings.Repeat("a", 75) + "=\r\naaaaa"},
	}
	for _, tt := range tests {
		got := string(encodeQP([]byte(tt.in), "\r\n"))
		if got != tt.want {
			t.Errorf("encodeQP(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if back, _ := decodeQP([]byte(got)); string(back) != strings.ReplaceAll(tt.in, "\n", "\r\n") {
			t.Errorf("decodeQP(encodeQP(%q)) = %q", tt.in, back)
		}
	}
}
